"""The probe that runs inside the ephemeral container, and the reading of its output.

The script is constant text: targets reach it only as positional parameters
(`sh -c SCRIPT reach WAIT HOST1 PORT1 HOST2 PORT2 ...`), so no host name can change
what the shell runs. It prints one line per target:

    reach[1] 127.0.0.1 18080 rc=0 nc-z: 127.0.0.1 (127.0.0.1:18080) open

and `reach[done] N` at the end, so a complete log needs no further status read. Targets are
probed in parallel (one background job each), so a run takes one --timeout at most, not one
per target; their lines come in the order they finish. The same lines go to the container's
termination message (/dev/termination-log, which the kubelet makes writable for any user):
when the first state reach sees is `terminated`, the verdicts come with it, and no
`kubectl logs` is needed.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from .targets import Target

OUTCOMES = ("open", "refused", "timeout", "dns", "unreachable", "error")

# Which tool answered (`via`):
#   nc-z  nc with -z (official busybox, OpenBSD nc as in netshoot, ncat)
#   nc    nc without -z (Debian's busybox): connect with empty stdin, under `timeout`
#   bash  bash's /dev/tcp (images with bash but no nc)
#   none  nothing to connect with
# Official busybox `nc -zv` is silent on a refused port (it prints every other failure),
# hence `-v` and the empty-output rule in classify().
SCRIPT = r"""w=$1; shift; n=$(($# / 2)); i=0
set -f; nl='
'
tl=/dev/termination-log; [ -w "$tl" ] || tl=/dev/null
say() { printf '%s\n' "$1"; printf '%s\n' "$1" >> "$tl"; }
have() { command -v "$1" >/dev/null 2>&1; }
check() {
  if have nc; then
    via=nc-z; out=$(nc -z -v -w "$w" "$2" "$3" </dev/null 2>&1); rc=$?
    case $out in *"invalid option"*|*"unrecognized option"*|*"illegal option"*)
      via=nc
      if have timeout; then out=$(timeout $((w + 1)) nc -w "$w" "$2" "$3" </dev/null 2>&1 >/dev/null); rc=$?
      else out=$(nc -w "$w" "$2" "$3" </dev/null 2>&1 >/dev/null); rc=$?; fi ;;
    esac
  elif have bash; then
    via=bash
    if have timeout; then out=$(timeout "$w" bash -c 'exec 3<>"/dev/tcp/$1/$2"' reach "$2" "$3" 2>&1); rc=$?
    else out=$(bash -c 'exec 3<>"/dev/tcp/$1/$2"' reach "$2" "$3" 2>&1); rc=$?; fi
  else
    via=none; out="this image has neither nc nor bash"; rc=127
  fi
  IFS=$nl
  say "$(printf 'reach[%s] %s %s rc=%s %s: %s' "$1" "$2" "$3" "$rc" "$via" "$(printf '%s | ' $out)")"
}
while [ $# -ge 2 ]; do
  i=$((i + 1)); check "$i" "$1" "$2" &
  shift 2
done
wait
say "reach[done] $n"
"""

_RESULT = re.compile(r"^reach\[(\d+)\] (.*?) (\d+) rc=(\d+) ([a-z-]+): ?(.*)$")
_DONE = re.compile(r"^reach\[done\] (\d+)\s*$")

# Lower-case substrings of busybox, OpenBSD nc, ncat and bash messages, most specific first.
_PATTERNS = (
    ("dns", ("bad address", "name or service not known", "temporary failure in name resolution",
             "no address associated", "could not resolve", "nodename nor servname", "getaddrinfo",
             "name does not resolve", "unknown host")),
    ("refused", ("connection refused",)),
    ("unreachable", ("no route to host", "network is unreachable", "host is unreachable",
                     "network unreachable")),
    ("timeout", ("timed out",)),
)
LINE_SEP = " | "  # the script joins a tool's output lines with it
_TIMEOUT_KILLED = (124, 143)  # coreutils timeout, busybox timeout


class Verdict(NamedTuple):
    target: Target
    outcome: str        # one of OUTCOMES
    detail: str         # a short human explanation ("" when the outcome says it all)
    raw: str            # what the tool in the container printed
    via: str = ""
    rc: Optional[int] = None

    @property
    def reachable(self) -> bool:
        return self.outcome == "open"


class ProbeLog(NamedTuple):
    verdicts: List[Verdict]
    complete: bool       # every target reported and the done marker seen
    other_lines: List[str]


def wait_seconds(timeout: float) -> int:
    """nc -w takes whole seconds; round up so 0.5s still waits."""
    return max(1, int(math.ceil(timeout)))


def command(targets: Sequence[Target], timeout: float) -> List[str]:
    args = ["sh", "-c", SCRIPT, "reach", str(wait_seconds(timeout))]
    for target in targets:
        args += [target.host, str(target.port)]
    return args


def classify(target: Target, via: str, rc: int, text: str) -> Verdict:
    """Turn one target's (tool, exit status, output) into a verdict."""
    text = text.strip().rstrip("|").strip()
    lowered = text.lower()
    if via == "none":
        return Verdict(target, "error", "the probe image has no nc or bash: use --image busybox:1.36", text, via, rc)
    if rc == 0:
        return Verdict(target, "open", "", text, via, rc)
    if via == "nc" and rc in _TIMEOUT_KILLED:
        return Verdict(target, "open", "connected; the peer kept the connection open", text, via, rc)
    if via == "bash" and rc in _TIMEOUT_KILLED:
        return Verdict(target, "timeout", "", text, via, rc)
    # The last line that says something decides: OpenBSD nc prints one line per address it
    # tried (IPv6 first), and the last address is the one the verdict is about.
    for line in reversed(lowered.split(LINE_SEP.strip())):
        for outcome, needles in _PATTERNS:
            if any(needle in line for needle in needles):
                return Verdict(target, outcome, "", text, via, rc)
    if "usage:" in lowered:
        return Verdict(target, "error", "a tool in the probe image does not take the options reach uses "
                       "(an old busybox?): use --image busybox:1.36", text, via, rc)
    if via == "nc-z" and not text:
        # busybox nc -zv reports every failure except ECONNREFUSED.
        return Verdict(target, "refused", "", text, via, rc)
    detail = "probe exited %d" % rc + (": %s" % text if text else " with no output")
    return Verdict(target, "error", detail, text, via, rc)


DONE = "done"


def parse_line(targets: Sequence[Target], line: str) -> Union[Tuple[int, Verdict], str, None]:
    """(index, verdict) for a result line, DONE for the end marker, None for anything else."""
    line = line.rstrip("\r\n")
    match = _RESULT.match(line)
    if match:
        index = int(match.group(1)) - 1
        if 0 <= index < len(targets):
            return index, classify(targets[index], match.group(5), int(match.group(4)), match.group(6))
    if _DONE.match(line):
        return DONE
    return None


def parse_log(targets: Sequence[Target], lines: Iterable[str]) -> ProbeLog:
    """Read the probe's log lines into one verdict per target (missing ones stay out)."""
    found = {}
    done = False
    other = []
    for line in lines:
        parsed = parse_line(targets, line)
        if parsed == DONE:
            done = True
        elif isinstance(parsed, tuple):
            found[parsed[0]] = parsed[1]
        elif line.strip():
            other.append(line.rstrip("\r\n"))
    verdicts = [found[i] for i in sorted(found)]
    return ProbeLog(verdicts, done and len(found) == len(targets), other)


def with_missing(targets: Sequence[Target], log: ProbeLog, why: str) -> List[Verdict]:
    """One verdict per target, in target order: those the log lacks are `error`, explaining why."""
    have = {v.target: v for v in log.verdicts}
    raw = "\n".join(log.other_lines)
    return [have.get(t) or Verdict(t, "error", why, raw) for t in targets]
