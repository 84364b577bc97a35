"""Structure: is every field of an ephemeral container known, and of the right type?

Checked against Kubernetes' own OpenAPI definition of io.k8s.api.core.v1.EphemeralContainer
(and what it refers to), kept as data in data/ephemeralcontainer.json; tools/refresh_schema.py
(make schema SPEC=...) renews it from a newer spec file.
"""
from __future__ import annotations

import json
import pkgutil
from typing import Any, Dict, Iterator, Tuple

from . import fieldpath
from .fieldpath import Path

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_JSON_TYPES = {"string": (str,), "boolean": (bool,), "array": (list,), "object": (dict,)}
_cache: Dict[str, Any] = {}


def data() -> Dict[str, Any]:
    """The kept definitions. pkgutil rather than open(): works inside the single-file build."""
    if not _cache:
        _cache.update(json.loads(pkgutil.get_data(__package__, "data/ephemeralcontainer.json").decode("utf-8")))
    return _cache


def kubernetes_version() -> str:
    return data()["kubernetes"]


def check_container(container: Any, path: Path) -> Iterator[Tuple[Path, str, bool]]:
    """(field path, error, fatal) for each unknown field, wrong type or missing required field.

    Fatal: a wrong type. The API server cannot even decode such a container, so no rule after
    the structure applies to it.
    """
    yield from _check(container, {"$ref": "#/definitions/" + data()["root"]}, path)


def _check(value: Any, node: Dict[str, Any], path: Path) -> Iterator[Tuple[Path, str, bool]]:
    ref = node.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[1]
        if name == QUANTITY:  # serialised as a string, but a JSON number decodes too
            node = {"type": "string", "format": "quantity"}
        else:
            node = data()["definitions"][name]
    if value is None:  # null is "not set" for every optional field
        return
    kind = node.get("type", "object")
    if not _type_ok(value, kind, node.get("format", "")):
        yield path, fieldpath.invalid(value if not isinstance(value, (dict, list)) else _json_kind(value),
                                      "expected %s, got %s" % (_describe(kind, node), _json_kind(value))), True
        return
    if kind == "array":
        for i, item in enumerate(value):
            yield from _check(item, node.get("items", {}), path + (i,))
    elif kind == "object":
        yield from _check_object(value, node, path)


def _check_object(value: Dict[str, Any], node: Dict[str, Any], path: Path) -> Iterator[Tuple[Path, str, bool]]:
    props = node.get("properties")
    extra = node.get("additionalProperties")
    for key in node.get("required", []):
        if key not in value:
            yield path + (key,), fieldpath.required(), False
    for key, item in value.items():
        if props is not None and key in props:
            yield from _check(item, props[key], path + (key,))
        elif isinstance(extra, dict):
            yield from _check(item, extra, path + (key,))
        elif props is not None:
            # kube-apiserver's strict field validation (kubectl's default since 1.27) words it so
            yield path + (key,), 'unknown field "%s"' % key, False


def _type_ok(value: Any, kind: str, fmt: str) -> bool:
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok or (fmt == "int-or-string" and isinstance(value, str))
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string" and fmt in ("int-or-string", "quantity"):
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES.get(kind, (object,)))


def _describe(kind: str, node: Dict[str, Any]) -> str:
    fmt = node.get("format", "")
    if fmt == "int-or-string":
        return "an integer or a string"
    if fmt == "quantity":
        return "a quantity (a string such as \"100m\", or a number)"
    if kind == "array":
        item = node.get("items", {})
        return "a list" if "$ref" in item else "a list of %ss" % item.get("type", "value")
    return {"object": "an object", "integer": "an integer"}.get(kind, "a " + kind)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    for name, types in (("string", (str,)), ("integer", (int,)), ("number", (float,)),
                        ("list", (list,)), ("object", (dict,))):
        if isinstance(value, types):
            return name
    return "null"
