"""Reports of a fan-out: lines or a matrix for people, JSON/YAML, JUnit XML and TAP for CI. Pure."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

from .fleet import INCONCLUSIVE, PodOutcome, inconclusive, verdict_met
from .report import GREEN, RED, YELLOW, Style
from .sources import Skipped

PASS, FAIL, ERROR, SKIP = "passed", "failed", "error", "skipped"


class Row(NamedTuple):
    """One pod x target."""
    namespace: str
    pod: str
    target: str
    status: str          # passed | failed | error | skipped
    outcome: str         # the verdict, or "" when the pod did not run
    expect: str
    message: str         # the verdict's detail or raw text, the error, or why skipped
    container: str


def rows(outcomes: Sequence[PodOutcome], skipped: Sequence[Tuple[Skipped, Dict[Any, str]]],
         dns_counts_as_closed: bool) -> List[Row]:
    """Pod x target rows: those that ran, in order, then the skipped pods' (their checks' targets and
    expectations)."""
    out: List[Row] = []
    for o in outcomes:
        if o.error is not None:
            message = o.error.message + ("; " + o.error.hint if o.error.hint else "")
            out += [Row(o.namespace, o.pod, str(t), ERROR, "", o.expects.get(t, "open"), message, o.container)
                    for t in o.expects]
            continue
        for v in o.verdicts:
            expect = o.expects.get(v.target, "open")
            status = ERROR if v.outcome == "error" or inconclusive(v, expect) else \
                PASS if verdict_met(v, expect, dns_counts_as_closed) else FAIL
            text = "; ".join(dict.fromkeys(t for t in (INCONCLUSIVE if inconclusive(v, expect) else "", v.detail,
                                                       v.raw) if t))   # the why, and the probe's own words
            out.append(Row(o.namespace, o.pod, str(v.target), status, v.outcome, expect, text, o.container))
    for s, expects in skipped:
        out += [Row(s.namespace, s.pod, str(t), SKIP, "", expect, s.reason, "") for t, expect in expects.items()]
    return out


def _mark(row: Row, style: Style) -> str:
    if row.status == PASS:
        return style.paint(style.ok, GREEN)
    if row.status == FAIL:
        return style.paint(style.bad, RED)
    return style.paint(style.unknown if row.status == ERROR else "-", YELLOW)


def lines(all_rows: Sequence[Row], style: Style) -> List[str]:
    """One line per pod x target: what a log or a pipe wants."""
    out = []
    for r in all_rows:
        what = r.outcome if r.status in (PASS, FAIL) else r.status
        line = "%s %s/%s %s %s" % (_mark(r, style), r.namespace, r.pod, r.target, what)
        if r.status == FAIL:
            line += " (expected %s%s)" % (r.expect, "; " + r.message if r.message else "")
        elif r.status in (ERROR, SKIP):
            line += ": " + r.message
        out.append(line)
    return out


def matrix(all_rows: Sequence[Row], style: Style) -> List[str]:
    """Rows: source pods; columns: targets; what a terminal wants."""
    targets = list(dict.fromkeys(r.target for r in all_rows))
    pods = list(dict.fromkeys("%s/%s" % (r.namespace, r.pod) for r in all_rows))
    cell = {("%s/%s" % (r.namespace, r.pod), r.target): r for r in all_rows}
    width = max([len(p) for p in pods] + [3])
    widths = [max(len(t), 13) for t in targets]
    out = [" " * width + "  " + "  ".join(t.ljust(w) for t, w in zip(targets, widths))]
    for p in pods:
        cells = []
        for t, w in zip(targets, widths):
            r = cell.get((p, t))
            if r is None:
                cells.append(" " * w)
                continue
            word = r.outcome or r.status
            plain = {PASS: style.ok, FAIL: style.bad, ERROR: style.unknown}.get(r.status, "-") + " " + word
            cells.append(_mark(r, style) + " " + word + " " * (w - len(plain)))
        out.append(p.ljust(width) + "  " + "  ".join(cells).rstrip())
    return out


def summary(all_rows: Sequence[Row]) -> str:
    count = {s: sum(1 for r in all_rows if r.status == s) for s in (PASS, FAIL, ERROR, SKIP)}
    pods = len({(r.namespace, r.pod) for r in all_rows})
    skipped_pods = len({(r.namespace, r.pod) for r in all_rows if r.status == SKIP})
    return "%d pod%s%s, %d check%s: %d passed, %d failed%s" % (
        pods, "" if pods == 1 else "s", " (%d skipped)" % skipped_pods if skipped_pods else "",
        len(all_rows) - count[SKIP], "" if len(all_rows) - count[SKIP] == 1 else "s", count[PASS], count[FAIL],
        ", %d could not run" % count[ERROR] if count[ERROR] else "")


def document(all_rows: Sequence[Row], exit_code: int) -> Dict[str, Any]:
    return {"exitCode": exit_code, "summary": summary(all_rows),
            "results": [{"namespace": r.namespace, "pod": r.pod, "container": r.container or None,
                         "target": r.target, "status": r.status, "verdict": r.outcome or None,
                         "expect": r.expect or None, "message": r.message} for r in all_rows]}


def junit(all_rows: Sequence[Row], seconds: float) -> str:
    """JUnit XML as CI systems read it: a testsuite of one testcase per pod x target."""
    suites = ET.Element("testsuites", name="kubectl reach")
    suite = ET.SubElement(suites, "testsuite", name="kubectl reach", tests=str(len(all_rows)),
                          failures=str(sum(r.status == FAIL for r in all_rows)),
                          errors=str(sum(r.status == ERROR for r in all_rows)),
                          skipped=str(sum(r.status == SKIP for r in all_rows)), time="%.3f" % seconds)
    for r in all_rows:
        case = ET.SubElement(suite, "testcase", classname="%s/%s" % (r.namespace, r.pod),
                             name="%s is %s" % (r.target, r.expect or "reachable"), time="0")
        if r.status == FAIL:
            node = ET.SubElement(case, "failure", message="%s (expected %s)" % (r.outcome, r.expect), type=r.outcome)
            node.text = _xml_text(r.message)
        elif r.status == ERROR:
            ET.SubElement(case, "error", message=_xml_text(r.message), type=r.outcome or "error")
        elif r.status == SKIP:
            ET.SubElement(case, "skipped", message=_xml_text(r.message))
    for attr in ("tests", "failures", "errors", "time"):   # no `skipped` here: the schema has it per suite
        suites.set(attr, suite.get(attr))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """XML 1.0 has no place for most control characters (a terminal's escape codes in probe output)."""
    return _NOT_XML.sub("?", text)


def _tap_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("#", "\\#")


def tap(all_rows: Sequence[Row]) -> str:
    """TAP version 14: one test point per pod x target, a YAML block under each failure."""
    out = ["TAP version 14", "1..%d" % len(all_rows)]
    for n, r in enumerate(all_rows, 1):
        name = _tap_text("%s/%s %s %s" % (r.namespace, r.pod, r.target, r.outcome or r.status))
        if r.status == SKIP:
            out.append("ok %d - %s # SKIP %s" % (n, name, _tap_text(r.message)))
        elif r.status == PASS:
            out.append("ok %d - %s" % (n, name))
        else:
            out.append("not ok %d - %s" % (n, name))
            out += ["  ---", "  verdict: %s" % _yaml(r.outcome or "none"), "  expected: %s" % _yaml(r.expect or "open"),
                    "  message: %s" % _yaml(r.message), "  ..."]
    return "\n".join(out) + "\n"


def _yaml(text: str) -> str:
    import json
    return json.dumps(text)  # a JSON string is a YAML flow scalar
