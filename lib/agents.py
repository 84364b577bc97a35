"""Reuse agents (--reuse): a reach container that idles after its probe, so later runs exec their
probe in it instead of adding one more container that can never be removed. Pure.

An agent's command is the probe's own script, led by the keep-alive and followed by an idle
loop: `sh -c 'k=$1; shift; SCRIPT; IDLE' reach-agent KEEP_ALIVE WAIT TARGETS...`. It ends by
itself once nothing has used it for KEEP_ALIVE seconds. Use is told by the mtime of
/dev/termination-log, which every probe appends its lines to (and an exec touches first); where
that file is not writable, the agent lives KEEP_ALIVE seconds from its start.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import probe

AGENT = "reach-agent"   # the agent's $0: how reach tells its agents from its one-shot containers
POLL = 5                # seconds between the agent's looks at the clock (less for a shorter keep-alive)

_HEAD = 'k=$1; shift; started=$(date +%s)\n'
_IDLE = r'''
a=/dev/termination-log; p=''' + str(POLL) + r'''
[ "$k" -lt "$p" ] && p=$k; [ "$p" -ge 1 ] || p=1
while sleep "$p"; do
  last=$(date -r "$a" +%s 2>/dev/null) || last=$started
  [ "$last" -ge "$started" ] 2>/dev/null || last=$started
  [ $(( $(date +%s) - last )) -lt "$k" ] || break
done
'''
# Marks the agent as used until the probe's own budget ($1 seconds from now) has passed, before
# the probe starts: a probe longer than what is left of the keep-alive must not see its agent
# end under it (the container's end would end the probe too). Plain touch where -d @EPOCH fails.
_TOUCH = ('b=$1; shift; t=/dev/termination-log\n'
          'touch -d "@$(( $(date +%s) + b ))" "$t" 2>/dev/null || touch "$t" 2>/dev/null\n'
          'exec "$@"')


def script() -> str:
    return _HEAD + probe.SCRIPT + _IDLE


def command(probe_command: List[str], keep_alive: float) -> List[str]:
    """An agent's command from a one-shot probe command (`sh -c SCRIPT reach WAIT ...`)."""
    assert probe_command[:3] == ["sh", "-c", probe.SCRIPT], probe_command[:3]
    return ["sh", "-c", script(), AGENT, str(int(keep_alive))] + probe_command[4:]


def exec_command(probe_command: List[str], budget: int) -> List[str]:
    """What `kubectl exec` runs in an agent: the one-shot probe, after marking the agent used for
    the `budget` seconds the probe may take."""
    return ["sh", "-c", _TOUCH, "reach-exec", str(int(budget))] + probe_command


def duration_text(seconds: float) -> str:
    """600 -> 10m, 90 -> 1m30s, 5 -> 5s: as the flag takes it."""
    whole = int(seconds)
    minutes, rest = divmod(whole, 60)
    return ("%dm" % minutes if minutes else "") + ("%ds" % rest if rest or not minutes else "")


def is_agent(container: Dict[str, Any]) -> bool:
    cmd = container.get("command") or []
    return len(cmd) >= 5 and cmd[:2] == ["sh", "-c"] and cmd[3] == AGENT


def find(pod: Dict[str, Any], wanted: Dict[str, Any]) -> Optional[str]:
    """The newest running agent that runs as the container reach would add (`wanted`) would:
    same image, security settings and target container (whose process namespace it shares)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    running = {s.get("name") for s in status.get("ephemeralContainerStatuses") or []
               if "running" in (s.get("state") or {})}
    for c in reversed(spec.get("ephemeralContainers") or []):
        if c.get("name") in running and is_agent(c) and all(
                c.get(key) == wanted.get(key) for key in ("image", "securityContext", "targetContainerName")):
            return c["name"]
    return None


# What `kubectl exec` prints when the agent is no longer there to run in (it ended between the
# get and the exec, or the pod is going).
_GONE = ("container not found", "not running", "is not valid for pod", "cannot exec into a container in a completed",
         "container is not created or running", "(NotFound)")


def is_gone(stderr: str) -> bool:
    return any(text in stderr for text in _GONE)
