"""`reach history POD`: the reach containers a pod has gathered (they are never removed). Pure."""
from __future__ import annotations

from typing import Any, Dict, List

from . import probe

AGENT = "reach-agent"   # a reuse agent's $0 (agents.AGENT)


def rows(pod: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One row per reach container (named reach-*), newest first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    states = {s.get("name"): s for s in status.get("ephemeralContainerStatuses") or []}
    out = []
    for order, c in enumerate(spec.get("ephemeralContainers") or []):
        if not str(c.get("name", "")).startswith("reach-"):
            continue
        s = states.get(c["name"]) or {}
        kind, detail = next(iter((s.get("state") or {"waiting": {"reason": "not reported yet"}}).items()))
        out.append({"name": c["name"], "image": c.get("image", ""), "state": kind,
                    "reason": detail.get("reason", ""), "exitCode": detail.get("exitCode"),
                    "started": detail.get("startedAt", ""), "finished": detail.get("finishedAt", ""),
                    "probed": probed(c.get("command") or []), "_order": order})
    out.sort(key=lambda r: (r["started"] or "", r["_order"]), reverse=True)
    for r in out:
        del r["_order"]
    return out


def probed(command: List[str]) -> str:
    """What a container probed: reach's targets, or the command as it was.

    reach's own: `sh -c SCRIPT reach WAIT TARGETS...`, or a reuse agent's `sh -c SCRIPT reach-agent
    KEEP_ALIVE WAIT TARGETS...`; the script may be another version's (older ones took HOST PORT pairs)."""
    if command[:2] == ["sh", "-c"] and len(command) >= 5 and "reach[" in command[2] and \
            command[3] in ("reach", AGENT):
        targets = probe.targets_of(command[6:] if command[3] == AGENT else command[5:])
        if targets is not None:
            return " ".join(str(t) for t in targets)
    text = " ".join(command)
    return text if len(text) <= 70 else text[:67] + "..."


def table(all_rows: List[Dict[str, Any]]) -> List[str]:
    head = ("NAME", "IMAGE", "STATE", "EXIT", "STARTED", "PROBED")
    cells = [(r["name"], r["image"], r["state"] + (" (%s)" % r["reason"] if r["reason"] else ""),
              "" if r["exitCode"] is None else str(r["exitCode"]), r["started"], r["probed"]) for r in all_rows]
    widths = [max(len(x) for x in column) for column in zip(head, *cells)]
    return ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in [head] + cells]
