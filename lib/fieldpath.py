"""Field paths and field errors in the API server's own notation.

`spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container` is
what kube-apiserver prints (k8s.io/apimachinery/pkg/util/validation/field); lint findings
use the same words so a search for the message finds the same answers.
"""
from __future__ import annotations

import json
from typing import Any, Sequence, Tuple, Union

Path = Tuple[Union[str, int], ...]


def render(path: Sequence[Union[str, int]]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += "[%d]" % part
        else:
            out += ("." if out else "") + part
    return out


def value(v: Any) -> str:
    """How field errors quote a value: strings as Go's %q, the rest as JSON."""
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)


def forbidden(detail: str) -> str:
    return "Forbidden: " + detail


def required(detail: str = "") -> str:
    return "Required value" + (": " + detail if detail else "")


def invalid(v: Any, detail: str) -> str:
    return "Invalid value: %s: %s" % (value(v), detail)


def duplicate(v: Any) -> str:
    return "Duplicate value: %s" % value(v)


def not_found(v: Any) -> str:
    return "Not found: %s" % value(v)


def not_supported(v: Any, supported: Sequence[str]) -> str:
    return "Unsupported value: %s: supported values: %s" % (value(v), ", ".join(value(s) for s in supported))
