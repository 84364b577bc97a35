"""Rendering results: a line per target for people, JSON or YAML for machines. Pure."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence

from .errors import ReachError
from .probe import UDP_OPEN, Verdict
from .run import RunResult, exit_code

GREEN, RED, YELLOW, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[0m"
# The raw probe text says more than the outcome word for these.
_SHOW_RAW = ("dns", "unreachable", "error")


class Style:
    def __init__(self, color: bool, unicode: bool):
        self.color = color
        self.ok, self.bad, self.unknown = ("✓", "✗", "?") if unicode else ("ok", "FAIL", "??")

    def paint(self, text: str, code: str) -> str:
        return "%s%s%s" % (code, text, RESET) if self.color else text


def verdict_line(v: Verdict, style: Style) -> str:
    if v.reachable:
        mark = style.paint(style.ok, GREEN)
    elif v.outcome == "error":
        mark = style.paint(style.unknown, YELLOW)
    else:
        mark = style.paint(style.bad, RED)
    line = "%s %s %s" % (mark, v.target, v.outcome)
    extra = v.detail or (v.raw if v.outcome in _SHOW_RAW else "")
    if extra:
        line += " (%s)" % extra
    return line


def summary_line(result: RunResult) -> str:
    on = " on node %s" % result.node if result.node else ""
    if result.mode == "node":
        return "from node %s's host network, pod %s/%s (%s)" % (result.node, result.namespace, result.probe_pod,
                                                               result.image)
    if result.mode == "copy":
        return "from pod %s/%s%s, a copy of pod %s, container %s (%s)" % (
            result.namespace, result.probe_pod, on, result.pod, result.container, result.image)
    what = {"reused": "reach agent %s, reused", "agent": "new reach agent %s"}.get(
        result.mode, "ephemeral container %s") % result.container
    return "from pod %s/%s%s, %s (%s)" % (result.namespace, result.pod, on, what, result.image)


def why_lines(target: Any, outcome: str, lines: List[str]) -> List[str]:
    """The --explain block under a target that is not open."""
    return ["why %s %s:" % (target, outcome)] + ["  " + line for line in lines]


def prediction_line(target: Any, causes: List[str], unknown: Sequence[str], style: Style) -> str:
    if causes:
        return "%s %s blocked: %s" % (style.paint(style.bad, RED), target, causes[0])
    if unknown:
        return "%s %s cannot tell: not allowed to read %s" % (style.paint(style.unknown, YELLOW), target,
                                                              ", ".join(unknown))
    return "%s %s nothing on the path blocks it" % (style.paint(style.ok, GREEN), target)


def document(result: RunResult, explanations: Optional[Dict[Any, Any]] = None) -> Dict[str, Any]:
    explanations = explanations or {}
    doc = _document(result)
    for target, verdict in zip(doc["targets"], result.verdicts):
        if verdict.target in explanations:
            target["explain"] = explanations[verdict.target].document
    return doc


def _document(result: RunResult) -> Dict[str, Any]:
    return {
        "pod": result.pod,
        "namespace": result.namespace,
        "node": result.node,
        "container": result.container,
        "image": result.image,
        "reachable": all(v.reachable for v in result.verdicts),
        "exitCode": int(exit_code(result.verdicts)),
        "targets": [_target(v) for v in result.verdicts],
        "timings": result.timings,
        "kubectlCalls": result.kubectl_calls,
        "warnings": list(result.warnings),
        "mode": result.mode,
        "probePod": result.probe_pod or result.pod,
        "notes": list(result.notes),
    }


def _target(v: Verdict) -> Dict[str, Any]:
    t = v.target
    doc = {"target": str(t), "scheme": t.scheme, "host": t.host, "port": t.port or None, "verdict": v.outcome,
           "reachable": v.reachable, "detail": v.detail, "raw": v.raw, "via": v.via, "rc": v.rc}
    if t.scheme in ("http", "https"):
        doc.update(path=t.path, httpStatus=v.http_status)
    if v.certificate is not None:
        doc["certificate"] = v.certificate._asdict()
    if t.scheme == "dns":
        doc["addresses"] = list(v.addresses)
    if t.scheme == "udp" and v.reachable:   # open, or only not refused? (UDP has no handshake)
        doc["udpAnswered"] = v.detail != UDP_OPEN
    return doc


def error_document(err: ReachError, pod: Optional[str], namespace: Optional[str]) -> Dict[str, Any]:
    return {"pod": pod, "namespace": namespace, "reachable": False, "exitCode": int(err.exit_code),
            "error": {"reason": getattr(err, "reason", type(err).__name__), "message": err.message,
                      "hint": err.hint}}


def render(doc: Dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    try:
        import yaml
    except ImportError:
        raise ReachError("-o yaml needs PyYAML", "pip install pyyaml, or use -o json") from None
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
