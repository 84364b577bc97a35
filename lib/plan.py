"""A plan file (-f checks.yaml): many checks, each from some pods to some targets, with what to expect.

    checks:
    - from: {selector: app=web, namespace: shop}     # or pod: NAME, or workload: deploy/web
      to: [db:5432, api.example.com:443]             # also udp://HOST:PORT, http(s)://HOST[:PORT]/PATH
      dns: [db, api.example.com]                     # names to resolve (or dns://NAME in to:)
      expect: open                                   # open (default) or closed
      timeout: 3s                                    # optional
      image: busybox:1.36                            # optional

A top-level list of checks is taken too. Pure: the parsed document in, Checks out, and every
error names the file, the check's index and the field.
"""
from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Sequence

from .errors import ReachError, UsageError
from .sources import Source, parse_ref
from .targets import Target, parse_dns, parse_duration, parse_target

EXPECTATIONS = ("open", "closed")
_FROM_KEYS = ("pod", "workload", "selector", "namespace", "allNamespaces")
_CHECK_KEYS = ("from", "to", "dns", "expect", "timeout", "image", "name")


class Check(NamedTuple):
    source: Source
    targets: Sequence[Target]
    expect: str = "open"
    timeout: Optional[float] = None
    image: Optional[str] = None
    name: str = ""


def parse(doc: Any, label: str) -> List[Check]:
    items = doc.get("checks") if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and set(doc) - {"checks", "apiVersion", "kind"}:
        raise UsageError("%s: unknown key %s (a plan holds `checks:`)" % (label, sorted(set(doc) - {"checks"})[0]))
    if not isinstance(items, list) or not items:
        raise UsageError("%s: expected a list of checks (checks: [...])" % label)
    return [_check(item, "%s: checks[%d]" % (label, i)) for i, item in enumerate(items)]


def _check(item: Any, where: str) -> Check:
    if not isinstance(item, dict):
        raise UsageError("%s: expected a mapping with from, to and expect" % where)
    unknown = sorted(set(item) - set(_CHECK_KEYS))
    if unknown:
        raise UsageError("%s.%s: unknown field (known: %s)" % (where, unknown[0], ", ".join(_CHECK_KEYS)))
    if item.get("to") is None and item.get("dns") is not None:
        targets = _names(item["dns"], where + ".dns")
    else:
        targets = _targets(item.get("to"), where + ".to")
        targets += [t for t in _names(item.get("dns"), where + ".dns") if t not in targets]
    return Check(source=_source(item.get("from"), where + ".from"), targets=targets,
                 expect=_expect(item.get("expect", "open"), where + ".expect"),
                 timeout=_duration(item.get("timeout"), where + ".timeout"),
                 image=_image(item.get("image"), where + ".image"), name=str(item.get("name") or ""))


def _source(value: Any, where: str) -> Source:
    if isinstance(value, str):  # from: deploy/web, or a pod name
        return _wrap(lambda: parse_ref(value), where)
    if not isinstance(value, dict):
        raise UsageError("%s: required: a pod, a workload or a selector" % where)
    unknown = sorted(set(value) - set(_FROM_KEYS))
    if unknown:
        raise UsageError("%s.%s: unknown field (known: %s)" % (where, unknown[0], ", ".join(_FROM_KEYS)))
    given = [k for k in ("pod", "workload", "selector") if value.get(k)]
    if len(given) != 1:
        raise UsageError("%s: give exactly one of pod, workload, selector" % where)
    for key in given + ["namespace"]:
        if key in value and not isinstance(value[key], str):
            raise UsageError("%s.%s: expected a string" % (where, key))
    base = _wrap(lambda: parse_ref(value["pod"]), where + ".pod") if given == ["pod"] else \
        _wrap(lambda: parse_ref(value["workload"]), where + ".workload") if given == ["workload"] else \
        Source(selector=value["selector"])
    if given == ["workload"] and not base.workload:
        raise UsageError("%s.workload: expected KIND/NAME, e.g. deploy/web" % where)
    if not isinstance(value.get("allNamespaces", False), bool):
        raise UsageError("%s.allNamespaces: expected true or false" % where)
    return base._replace(namespace=value.get("namespace"), all_namespaces=value.get("allNamespaces", False))


def _targets(value: Any, where: str) -> List[Target]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise UsageError("%s: required: HOST:PORT or a list of them (or dns: NAMES)" % where)
    out: List[Target] = []
    for i, v in enumerate(values):
        target = _wrap(lambda v=v: parse_target(str(v)), "%s[%d]" % (where, i))
        if target not in out:
            out.append(target)
    return out


def _names(value: Any, where: str) -> List[Target]:
    """`dns:`: a name, or a list of names, to resolve from the pod."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise UsageError("%s: expected a name or a list of names, e.g. [db, api.example.com]" % where)
    out: List[Target] = []
    for i, v in enumerate(values):
        target = _wrap(lambda v=v: parse_dns(v, "name %r" % v), "%s[%d]" % (where, i))
        if target not in out:
            out.append(target)
    return out


def _expect(value: Any, where: str) -> str:
    if value not in EXPECTATIONS:
        raise UsageError("%s: %r is not one of %s" % (where, value, ", ".join(EXPECTATIONS)))
    return value


def _duration(value: Any, where: str) -> Optional[float]:
    if value is None:
        return None
    return _wrap(lambda: parse_duration(str(value), where.rsplit(".", 1)[1]), where)


def _image(value: Any, where: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value or value != value.strip():
        raise UsageError("%s: expected an image reference, e.g. busybox:1.36" % where)
    return value


def _wrap(fn, where: str):
    try:
        return fn()
    except ReachError as e:
        raise UsageError("%s: %s" % (where, e.message)) from None
