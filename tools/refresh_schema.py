#!/usr/bin/env python3
"""Refresh lib/data/ephemeralcontainer.json from a Kubernetes OpenAPI spec file.

    python tools/refresh_schema.py SPEC_FILE KUBERNETES_VERSION [--source TEXT]

SPEC_FILE may be any of the forms the definitions are published in:
  - api/openapi-spec/swagger.json of kubernetes/kubernetes (OpenAPI v2, "definitions");
  - api/openapi-spec/v3/api__v1_openapi.json (OpenAPI v3, "components.schemas");
  - a JSON-schema rendering of either ("$defs", with ["string", "null"] types), as shipped
    by kubernetes-validate and kubernetes-json-schema.
Only io.k8s.api.core.v1.EphemeralContainer and the definitions it refers to are kept, in the
OpenAPI v2 form, without descriptions: what lint checks, and nothing it does not.
"""
import argparse
import json
import sys

ROOT = "io.k8s.api.core.v1.EphemeralContainer"
OUT = "lib/data/ephemeralcontainer.json"
KEEP = ("type", "format", "items", "properties", "additionalProperties", "required", "enum", "$ref")


def definitions(spec: dict) -> dict:
    for keys in (("definitions",), ("components", "schemas"), ("$defs",)):
        node = spec
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and ROOT in node:
            return node
    sys.exit("refresh_schema: %s is not in that file" % ROOT)


def normalize(node):
    """One schema node in the OpenAPI v2 form swagger.json uses."""
    if not isinstance(node, dict):
        return node
    if "allOf" in node and len(node["allOf"]) == 1:  # OpenAPI v3 wraps $refs that carry a default
        node = dict(node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"})
    if "oneOf" in node:  # JSON-schema renderings spell int-or-string and Quantity as oneOf
        types = sorted({t for alt in node["oneOf"] for t in _types(alt)})
        return {"type": "string", "format": "int-or-string"} if "integer" in types else {"type": "string"}
    out = {}
    for key in KEEP:
        if key not in node:
            continue
        value = node[key]
        if key == "type":
            value = [t for t in _types(node) if t != "null"][0]
        elif key == "$ref":
            value = "#/definitions/" + value.rsplit("/", 1)[1]
        elif key == "properties":
            value = {name: normalize(prop) for name, prop in sorted(value.items())}
        elif key in ("items", "additionalProperties"):
            value = normalize(value)
        out[key] = value
    return out


def _types(node: dict) -> list:
    t = node.get("type", [])
    return t if isinstance(t, list) else [t]


def closure(defs: dict) -> dict:
    wanted, todo = {}, [ROOT]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted[name] = normalize(defs[name])
        todo.extend(_refs(wanted[name]))
    return dict(sorted(wanted.items()))


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value.rsplit("/", 1)[1]
            else:
                yield from _refs(value)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec")
    p.add_argument("version", help="the Kubernetes version the spec file belongs to, e.g. v1.36.0")
    p.add_argument("--source", default="", help="where the spec file came from")
    p.add_argument("--out", default=OUT)
    args = p.parse_args()
    with open(args.spec) as f:
        defs = definitions(json.load(f))
    data = {"kubernetes": args.version, "root": ROOT, "source": args.source or args.spec,
            "definitions": closure(defs)}
    with open(args.out, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    print("%s: %d definitions from Kubernetes %s" % (args.out, len(data["definitions"]), args.version))


if __name__ == "__main__":
    main()
