"""The probe that runs inside the ephemeral container, and the reading of its output.

The script is constant text: targets reach it only as positional parameters, three words
each (`sh -c SCRIPT reach WAIT KIND A B KIND A B ...`), so no host name, URL or path can
change what the shell runs:

    tcp HOST PORT      udp HOST PORT      dns NAME -      http URL -      https URL -|insecure

It prints one line per target:

    reach[1] tcp 127.0.0.1 18080 rc=0 nc-z: 127.0.0.1 (127.0.0.1:18080) open

and `reach[done] N` at the end, so a complete log needs no further status read. Targets are
probed in parallel (one background job each); their lines come in the order they finish.

Time: the probes share one budget, --timeout (WAIT, whole seconds) from the script's start.
A probe's first tool gets all of it; a second step (curl's retry without verification,
openssl's look before wget, getent hosts after getent ahosts, the next name of nslookup's
search walk) gets what is left (the clock has whole seconds: one more is allowed, and a step
gets at least one), or does not run. With the tools' own margins (curl and bash run under
`timeout` WAIT+1) a run takes at most about --timeout + 3 s, however many targets and steps.
Not bounded: nc -z's own name lookup (nc -w covers the connect only; README: "A resolver that
never answers"); and in an image without `date`, every step gets the whole WAIT.

A tool that runs under `timeout` (run()) writes to a file ($TMPDIR or /tmp, reach.PID.N, removed
once the line is out), not to a pipe, and runs in a session of its own where the image has
`setsid`; whatever is left of that session is killed once the tool ends. busybox wget does its
TLS in a forked child (its own TLS, or `openssl s_client`), and busybox `timeout` kills only
wget: through a pipe, the shell would wait for that child for ever, on a port that accepts but
never finishes the handshake. (Where no file can be written the script falls back to a pipe;
without setsid the child lives on until it ends by itself or the container does. nc, which
forks nothing, is read through a pipe.)

Each result line stays well under 4 KiB (busybox's printf writes longer lines in 4096-byte
pieces, which parallel jobs would interleave): at most 20 of the tool's lines (for dns the
first ones: the first addresses; else the first ones and the last, which decides), about 1 KB
of them, and `(+N more)` for the lines left out; a line longer than 300 bytes is cut. The tool's text holds no CR and no
`reach[`, so a line can only be read as the result of the target whose words it starts with
(parse_line). The same lines go to the container's termination message (/dev/termination-log,
which the kubelet makes writable for any user): when the first state reach sees is
`terminated`, the verdicts come with it, and no `kubectl logs` is needed. The kubelet keeps
the last 4096 bytes of it (less when a pod's containers share 12 KiB): a cut message lacks
the first lines, parse_log finds it incomplete, and reach reads the log instead.

The script consumes all its positional parameters, never exits and does not use $0: a reuse
agent runs it between its own head and idle loop (agents.py).
"""
from __future__ import annotations

import ipaddress
import math
import re
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from .errors import UsageError
from .targets import DEFAULT_PORTS, Target, parse_target

OUTCOMES = ("open", "refused", "timeout", "dns", "unreachable", "tls", "error")

# Which tool answered (`via`):
#   tcp:   nc-z  nc with -z (official busybox, OpenBSD nc as in netshoot, ncat)
#          nc    nc without -z (Debian's busybox): connect with empty stdin, under `timeout`
#          bash  bash's /dev/tcp (images with bash but no nc)
#   udp:   nc-u  nc -u -z -v: busybox writes a byte, waits -w seconds and writes again, OpenBSD nc
#                writes a few; an ICMP port-unreachable fails the next write (ECONNREFUSED)
#          bash  bash's /dev/udp: a datagram, UDP_SENT once it is out, then a read under -t: an
#                answer, the ICMP error, or silence (read -t's own expiry, exit 142)
#   dns:   getent  the libc resolver (resolv.conf, its search domains and ndots, /etc/hosts)
#          hosts   the name is in /etc/hosts (images without getent: the script reads it, as
#                glibc does: names compare without case, a trailing dot is not dropped)
#          nslookup  busybox's nslookup reads only the nameserver lines: the script walks the
#                search domains itself, as libc does, and stops at the first name that answers
#   http:  curl  curl -v (verifies certificates; prints the server's certificate); after a
#                certificate failure (51, 60) it asks again with -k, for the certificate and the
#                status, after "with --insecure:" (a -k run loads no CA bundle: its verify result
#                means nothing)
#          wget  busybox wget -S --spider: a GET (its own TLS does not verify certificates). With
#                openssl in the image, `openssl s_client` (SNI, -verify_hostname or -verify_ip)
#                looks at the server first, after "openssl:"; when it got a certificate, its
#                check is the verification and wget fetches with --no-check-certificate (busybox
#                wget hands openssl `-verify_ip IP:PORT` for an address, which openssl refuses)
#          gnu-wget  GNU wget -S -O/dev/null (a GET: its --spider sends HEAD); it verifies, and says
#                nothing of the certificate (openssl, when in the image, tells it, as above)
#   any:   none  the image has no tool for this probe
# Official busybox `nc -zv` is silent on a refused port (it prints every other failure),
# hence `-v` and the empty-output rule in classify(); `nc -uzv` is silent the same way.
SCRIPT = r"""w=$1; shift; i=0
set -f; nl='
'; cr=$(printf '\r'); ab=aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ
tl=/dev/termination-log; [ -w "$tl" ] || tl=/dev/null
T=$(date +%s 2>/dev/null); D=${TMPDIR:-/tmp}/reach.$$
say() { printf '%s\n' "$1"; printf '%s\n' "$1" >> "$tl"; }
have() { command -v "$1" >/dev/null 2>&1; }
lim() { if have timeout; then timeout "$@"; else shift; "$@"; fi; }
run() {
  if have timeout; then set -- timeout "$@"; else shift; fi
  if ! { : >"$F"; } 2>/dev/null; then out=$("$@" 2>&1); rc=$?; return; fi
  if have setsid; then setsid "$@" >"$F" 2>&1 & P=$!; wait "$P" 2>/dev/null; rc=$?; kill -9 -"$P" 2>/dev/null
  else "$@" >"$F" 2>&1; rc=$?; fi
  if have cat; then out=$(cat "$F"); else out=; while IFS= read -r R || [ -n "$R" ]; do out="$out$R$nl"; done <"$F"; fi
}
left() { L=$w; N=$(date +%s 2>/dev/null); case $T.$N in *[!0-9.]*|.*|*.) ;; *) L=$((T + w + 1 - N)) ;; esac; [ "$L" -ge 1 ]; }
only() { (x=$1; shift; IFS=$nl; for l in $x; do l=${l%"$cr"}
  for p in "$@"; do case $l in $p) printf '%s\n' "$l"; break ;; esac; done; done) }
bad() { case $1 in *"invalid option"*|*"unrecognized option"*|*"illegal option"*) return 0 ;; esac; return 1; }
p_tcp() {
  if have nc; then
    via=nc-z; out=$(nc -z -v -w "$w" "$1" "$2" </dev/null 2>&1); rc=$?
    if bad "$out"; then via=nc; out=$(lim $((w + 1)) nc -w "$w" "$1" "$2" </dev/null 2>&1 >/dev/null); rc=$?; fi
  elif have bash; then
    via=bash; run "$w" bash -c 'exec 3<>"/dev/tcp/$1/$2"' reach "$1" "$2"
  else
    via=none; out="this image has neither nc nor bash"; rc=127
  fi
}
p_udp() {
  via=none; out="this image has neither nc nor bash"; rc=127
  if have nc; then
    out=$(nc -u -z -v -w "$w" "$1" "$2" </dev/null 2>&1); rc=$?
    if ! bad "$out"; then via=nc-u; return; fi
    out="the image's nc has no -u, and the image has no bash"
  fi
  if have bash; then
    via=bash; run $((w + 1)) bash -c 'exec 3<>"/dev/udp/$1/$2" && printf x >&3 && echo "datagram sent" &&
      read -r -t "$3" -n 1 <&3' reach "$1" "$2" "$w"
  fi
}
p_dns() {
  if have getent; then
    via=getent; run "$w" getent ahosts "$1"
    if [ "$rc" = 1 ] && left; then run "$L" getent hosts "$1"
    elif [ "$rc" = 0 ]; then out=$(only "$out" '*STREAM*'); fi
    return
  fi
  if [ -r /etc/hosts ]; then
    via=hosts; rc=0; p=; x=$1
    while [ -n "$x" ]; do c=${x%"${x#?}"}; x=${x#?}
      case $ab in
        *"$c"*) u=${ab%%"$c"*}; v=${ab#"$u$c"}
          if [ $((${#u} % 2)) = 0 ]; then p="$p[$c${v%"${v#?}"}]"; else p="$p[${u#"${u%?}"}$c]"; fi ;;
        *) p="$p$c" ;;
      esac
    done
    out=$(while read -r a h; do case $a in ''|'#'*) continue ;; esac
      for x in $h; do case $x in '#'*) break ;; $p) printf '%s %s\n' "$a" "$x" ;; esac; done; done </etc/hosts)
    [ -n "$out" ] && return
  fi
  if ! have nslookup; then via=none; out="this image has neither getent nor nslookup"; rc=127; return; fi
  via=nslookup; n=1; s=
  if [ -r /etc/resolv.conf ]; then
    while read -r a h; do case $a in
      search|domain) s=$h ;;
      options) for x in $h; do case $x in ndots:*) n=${x#ndots:} ;; esac; done ;;
    esac; done </etc/resolv.conf
  fi
  case $n in ''|*[!0-9]*) n=1 ;; esac
  d=0; x=$1; while :; do case $x in *.*) x=${x#*.}; d=$((d + 1)) ;; *) break ;; esac; done
  case $1 in
    *.) names=$1 ;;
    *) l=; for x in $s; do l="$l $1.${x%.}."; done
       if [ "$d" -ge "$n" ]; then names="$1.$l"; else names="$l $1."; fi ;;
  esac
  tried=; L=$w
  for x in $names; do
    if [ -n "$tried" ] && ! left; then o="$o${nl}nslookup: gave up after ${w}s"; break; fi
    tried="$tried $x"; run "$L" nslookup "$x"; o=$out
    case $o in *"Name:"*) x=$(only "$o" 'Name:*'); out="tried:$tried$nl${x%%"$nl"*}$nl$(only "$o" 'Address: *')"
      return ;; esac
    case $rc in 124|143) o="$o${nl}nslookup: gave up after ${w}s"; break ;; esac
    case $o in *"timed out"*|*"no servers"*) break ;; esac
  done
  out="tried:$tried$nl$(only "$o" '*find*' '*timed out*' '*gave up*' '*o answer*' '*sage:*' 'nslookup: *')"
}
p_web() {
  ins=; [ "$3" = insecure ] && ins=1
  if have curl; then
    v='*certificate verify*'; [ -n "$ins" ] && v=
    via=curl; run $((w + 1)) curl -sS -v -o /dev/null --max-time "$w" ${ins:+-k} "$2"
    x=$(only "$out" '< HTTP/*' 'curl: (*' '*connect to * failed*' '*subject:*' '*expire date:*' '*issuer:*' "$v")
    case $rc in 51|60) if left; then y=$rc; run $((L + 1)) curl -sS -v -o /dev/null --max-time "$L" -k "$2"
      x="$x${nl}with --insecure:$nl$(only "$out" '< HTTP/*' 'curl: (*' '*subject:*' '*expire date:*' '*issuer:*')"
      rc=$y; fi ;;
    esac
    out=$x
  elif have wget; then
    case $(wget --version 2>&1) in *"GNU Wget"*) via=gnu-wget; o=-O/dev/null ;; *) via=wget; o=--spider ;; esac
    k=${ins:+--no-check-certificate}; s=
    if [ "$1" = https ] && have openssl; then
      h=${2#*://}; h=${h%%/*}
      case $h in \[*\]) a=${h#?}; a=${a%?}; h=$h:443 ;; \[*) a=${h#?}; a=${a%%]*} ;; *:*) a=${h%:*} ;; *) a=$h; h=$h:443 ;; esac
      case $a in
        *:*) run "$w" openssl s_client -connect "$h" -verify_ip "$a" ;;
        *[!0-9.]*) run "$w" openssl s_client -connect "$h" -servername "$a" -verify_hostname "$a" ;;
        *) run "$w" openssl s_client -connect "$h" -verify_ip "$a" ;;
      esac
      s="openssl:$nl$(printf '%s\n' "$out" | openssl x509 -noout -subject -enddate -issuer 2>/dev/null)"
      s="$s$nl$(only "$out" 'Verify return code:*' '*:error:*' 'connect:errno=*')"
      case $rc in 124|143) out="$s${nl}openssl: no TLS answer within ${w}s"; return ;; esac
      case $via$s in wget*"subject="*) k=--no-check-certificate ;; esac
    fi
    L=$w; if [ -z "$s" ] || left; then run "$L" wget -S "$o" $k "$2"; else out="wget: no time left"; rc=124; fi
    out="$(only "$out" '  HTTP/*' 'wget: *' 'Connecting to *' 'Resolving *' '*ERROR*' '*WARNING*' '*sage:*' \
      '*certificate*' 'Unable to establish SSL*' 'GnuTLS:*' 'OpenSSL:*')${s:+$nl$s}"
  else
    via=none; out="this image has neither curl nor wget"; rc=127
  fi
}
check() {
  F=$D.$1
  case $2 in
    tcp) p_tcp "$3" "$4" ;;
    udp) p_udp "$3" "$4" ;;
    dns) p_dns "$3" ;;
    http|https) p_web "$2" "$3" "$4" ;;
    *) via=none; out="no probe for $2"; rc=2 ;;
  esac
  IFS=$nl; r=; n=0; m=0; z=
  for x in $out; do
    [ ${#x} -gt 300 ] && x="$(printf '%.300s' "$x")..."
    if [ "$n" -lt 20 ] && [ $((${#r} + ${#x})) -le 1000 ]; then r="$r$x | "; n=$((n + 1)); else m=$((m + 1)); z=$x; fi
  done
  if [ "$m" -gt 0 ] && [ "$2" != dns ]; then m=$((m - 1)); else z=; fi
  [ "$m" -gt 0 ] && r="$r(+$m more) | "
  [ -n "$z" ] && r="$r$z | "
  while :; do case $r in
    *"$cr"*) r="${r%%"$cr"*} ${r#*"$cr"}" ;;
    *"reach["*) r="${r%%"reach["*}reach(${r#*"reach["}" ;;
    *) break ;;
  esac; done
  say "$(printf 'reach[%s] %s %s %s rc=%s %s: %s' "$1" "$2" "$3" "$4" "$rc" "$via" "$r")"
  [ -f "$F" ] && { rm -f "$F" || : >"$F"; } 2>/dev/null
}
while [ $# -ge 3 ]; do
  i=$((i + 1)); check "$i" "$1" "$2" "$3" &
  shift 3
done
shift $#
wait
say "reach[done] $i"
"""

_HEAD = re.compile(r"^reach\[(\d+)\] ")
_REST = re.compile(r"^(\d+) ([a-z0-9-]+): ?(.*)$")   # after "reach[N] KIND A B rc="
_DONE = re.compile(r"^reach\[done\] (\d+)\s*$")

# Lower-case substrings of busybox, OpenBSD nc, ncat, bash, curl and wget messages, most specific first.
_PATTERNS = (
    ("dns", ("bad address", "name or service not known", "temporary failure in name resolution",
             "no address associated", "could not resolve", "nodename nor servname", "getaddrinfo",
             "name does not resolve", "unknown host", "unable to resolve", "resolving timed out")),
    ("refused", ("connection refused",)),
    ("unreachable", ("no route to host", "network is unreachable", "host is unreachable",
                     "network unreachable")),
    ("timeout", ("timed out",)),
)
LINE_SEP = " | "  # the script joins a tool's output lines with it
_TIMEOUT_KILLED = (124, 143)  # coreutils timeout, busybox timeout
_BETTER_IMAGE = "nicolaka/netshoot:v0.13"
UDP_OPEN = ("no ICMP port-unreachable came back: open, or filtered (UDP has no handshake: a firewall or "
            "NetworkPolicy that drops datagrams looks the same)")
UDP_SENT = "datagram sent"   # bash's UDP probe prints it once the datagram is out
_READ_EXPIRED = 142          # bash's read -t ran out (128 + SIGALRM): silence
_HTTP_STATUS = re.compile(r"^HTTP/[0-9.]+ (\d{3})\b")
_MORE = re.compile(r"^\(\+(\d+) more\)$")   # the script keeps 20 lines of a tool's output: how many it left out
NOT_CHECKED = "not checked (--insecure)"


class Certificate(NamedTuple):
    """What the probe's tools told of an https server's certificate."""
    subject: str = ""
    issuer: str = ""
    expires: str = ""
    verified: Optional[bool] = None   # None: no tool said
    problem: str = ""                 # why it does not verify, or why it was not verified


class Verdict(NamedTuple):
    target: Target
    outcome: str        # one of OUTCOMES
    detail: str         # a short human explanation ("" when the outcome says it all)
    raw: str            # what the tool in the container printed
    via: str = ""
    rc: Optional[int] = None
    http_status: Optional[int] = None          # http(s): the status code of the server's answer
    certificate: Optional[Certificate] = None  # https: what the tools told of the certificate
    addresses: Tuple[str, ...] = ()            # dns: what the name resolves to

    @property
    def reachable(self) -> bool:
        return self.outcome == "open"

    @property
    def udp_silence(self) -> bool:
        """udp: nothing refused and nothing answered: open, or filtered (a dropped datagram looks the same)."""
        return self.target.scheme == "udp" and self.outcome == "open" and self.detail == UDP_OPEN


class ProbeLog(NamedTuple):
    verdicts: List[Verdict]
    complete: bool       # every target reported and the done marker seen
    other_lines: List[str]


def wait_seconds(timeout: float) -> int:
    """nc -w takes whole seconds; round up so 0.5s still waits."""
    return max(1, int(math.ceil(timeout)))


def probe_words(target: Target, insecure: bool = False) -> List[str]:
    """A target's three positional parameters."""
    if target.scheme == "dns":
        return ["dns", target.host, "-"]
    if target.scheme in DEFAULT_PORTS:
        return [target.scheme, str(target), "insecure" if insecure and target.scheme == "https" else "-"]
    return [target.scheme, target.host, str(target.port)]


def command(targets: Sequence[Target], timeout: float, insecure: bool = False) -> List[str]:
    args = ["sh", "-c", SCRIPT, "reach", str(wait_seconds(timeout))]
    for target in targets:
        args += probe_words(target, insecure)
    return args


def targets_of(words: Sequence[str]) -> Optional[List[Target]]:
    """The targets a command's parameters (after WAIT) name, or None when they are not reach's.

    Containers made before udp/dns/http were added take HOST PORT pairs: those are read too."""
    if words and words[0] in ("tcp", "udp", "dns", "http", "https"):
        if len(words) % 3:
            return None
        out = []
        for kind, a, b in zip(words[::3], words[1::3], words[2::3]):
            if kind in ("tcp", "udp") and b.isdigit():
                out.append(Target(a, int(b), kind))
            elif kind == "dns":
                out.append(Target(a, 0, "dns"))
            elif kind in DEFAULT_PORTS:
                try:
                    out.append(parse_target(a))
                except UsageError:
                    return None
            else:
                return None
        return out
    if len(words) % 2 or not all(p.isdigit() for p in words[1::2]):
        return None
    return [Target(h, int(p)) for h, p in zip(words[::2], words[1::2])]


def classify(target: Target, via: str, rc: int, text: str, insecure: bool = False) -> Verdict:
    """Turn one target's (tool, exit status, output) into a verdict."""
    text = text.strip().rstrip("|").strip()
    if target.scheme == "udp":
        return _udp(target, via, rc, text)
    if target.scheme == "dns":
        return _dns(target, via, rc, text)
    if target.scheme in DEFAULT_PORTS:
        return _http(target, via, rc, text, insecure)
    lowered = text.lower()
    if via == "none":
        return Verdict(target, "error", "the probe image has no nc or bash: use --image busybox:1.36", text, via, rc)
    if rc == 0:
        return Verdict(target, "open", "", text, via, rc)
    if via == "nc" and rc in _TIMEOUT_KILLED:
        return Verdict(target, "open", "connected; the peer kept the connection open", text, via, rc)
    if via == "bash" and rc in _TIMEOUT_KILLED:
        return Verdict(target, "timeout", "", text, via, rc)
    outcome = _said(lowered)
    if outcome:
        return Verdict(target, outcome, "", text, via, rc)
    if "usage:" in lowered:
        return Verdict(target, "error", _OLD_TOOL, text, via, rc)
    if via == "nc-z" and not text:
        # busybox nc -zv reports every failure except ECONNREFUSED.
        return Verdict(target, "refused", "", text, via, rc)
    return Verdict(target, "error", _exited(rc, text), text, via, rc)


_OLD_TOOL = "a tool in the probe image does not take the options reach uses (an old busybox?): use --image busybox:1.36"


def _said(lowered: str) -> Optional[str]:
    """The outcome the last line that says something names. OpenBSD nc prints one line per
    address it tried (IPv6 first), and the last address is the one the verdict is about."""
    for line in reversed(lowered.split(LINE_SEP.strip())):
        for outcome, needles in _PATTERNS:
            if any(needle in line for needle in needles):
                return outcome
    return None


def _exited(rc: int, text: str) -> str:
    return "probe exited %d" % rc + (": %s" % text if text else " with no output")


def _udp(target: Target, via: str, rc: int, text: str) -> Verdict:
    lowered = text.lower()
    if via == "none":
        return Verdict(target, "error", "the probe image has no nc that sends UDP (nc -u) and no bash: use --image "
                       "busybox:1.36 or %s" % _BETTER_IMAGE, text, via, rc)
    if via == "bash":
        # Open only once the datagram is out: a probe killed before (a name lookup that hangs) says nothing.
        sent = UDP_SENT in lowered
        if sent and rc == 0:
            return Verdict(target, "open", "a datagram came back: something listens there", text, via, rc)
        if sent and rc == _READ_EXPIRED:
            return Verdict(target, "open", UDP_OPEN, text, via, rc)
        if rc in _TIMEOUT_KILLED and not _said(lowered):
            if sent or _is_address(target.host):
                return Verdict(target, "timeout", "the probe did not finish within --timeout", text, via, rc)
            return Verdict(target, "dns", "the name did not resolve within --timeout (no datagram was sent): is UDP "
                           "53 to the cluster DNS blocked?", text, via, rc)
    elif rc == 0:
        return Verdict(target, "open", UDP_OPEN, text, via, rc)
    outcome = _said(lowered)
    if outcome == "refused" or (via == "nc-u" and rc == 1 and not text):   # busybox and OpenBSD nc -uzv: silent
        return Verdict(target, "refused", "ICMP port unreachable came back: nothing listens on that UDP port",
                       text, via, rc)
    if outcome:
        return Verdict(target, outcome, "", text, via, rc)
    if "usage:" in lowered:
        return Verdict(target, "error", _OLD_TOOL, text, via, rc)
    return Verdict(target, "error", _exited(rc, text), text, via, rc)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.partition("%")[0])
        return True
    except ValueError:
        return False


def _dns(target: Target, via: str, rc: int, text: str) -> Verdict:
    lines, more = _more(_lines(text))
    if via == "none":
        return Verdict(target, "error", "the probe image has neither getent nor nslookup: use --image %s"
                       % _BETTER_IMAGE, text, via, rc)
    if via in ("getent", "hosts"):
        found = tuple(dict.fromkeys(line.split()[0] for line in lines))
        if rc == 0 and found:
            words = lines[0].split()   # ahosts: ADDR STREAM NAME; hosts: ADDR NAME [ALIASES]
            canonical = words[2] if len(words) > 2 and words[1] == "STREAM" else words[1] if len(words) > 1 \
                else target.host
            where = ", from /etc/hosts" if via == "hosts" else _as(target, canonical)
            return Verdict(target, "open", "resolves to %s%s" % (_addresses(found, more), where), text, via, rc,
                           addresses=found)
        if rc in _TIMEOUT_KILLED:
            return Verdict(target, "dns", "no answer from the pod's resolver within --timeout (is UDP 53 to "
                           "the cluster DNS blocked?)", text, via, rc)
        if rc == 2:
            return Verdict(target, "dns", "does not resolve: no such name, or no answer from the pod's resolver",
                           text, via, rc)
        return Verdict(target, "error", _exited(rc, text), text, via, rc)
    tried = lines[0][len("tried:"):].split() if lines and lines[0].startswith("tried:") else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Name:")]
    found = tuple(dict.fromkeys(line.split(":", 1)[1].strip() for line in lines
                                if line.startswith("Address:") and names))
    if found:
        return Verdict(target, "open", "resolves to %s%s" % (_addresses(found, more), _as(target, names[0])), text,
                       via, rc, addresses=found)
    lowered = text.lower()
    searched = " (tried %s)" % ", ".join(t.rstrip(".") for t in tried) if len(tried) > 1 else ""
    for needle, why in (("gave up after", "no answer from the pod's resolver within --timeout (is UDP 53 to the "
                                          "cluster DNS blocked?)"),
                        ("timed out", "no answer from the pod's resolver (is UDP 53 to the cluster DNS blocked?)"),
                        ("nxdomain", "no such name (NXDOMAIN)" + searched),
                        ("servfail", "the resolver failed (SERVFAIL)" + searched),
                        ("refused", "the resolver refused the query (REFUSED)"),
                        ("no answer", "the name has no address record (no A or AAAA)" + searched)):
        if needle in lowered:
            return Verdict(target, "dns", why, text, via, rc)
    if "usage:" in lowered:
        return Verdict(target, "error", _OLD_TOOL, text, via, rc)
    if rc == 0:   # busybox: NOERROR, and no record of either type
        return Verdict(target, "dns", "the name has no address record (no A or AAAA)" + searched, text, via, rc)
    return Verdict(target, "error", _exited(rc, text), text, via, rc)


def _more(lines: List[str]) -> Tuple[List[str], int]:
    """A tool's lines without the script's `(+N more)`, and N."""
    kept, more = [], 0
    for line in lines:
        match = _MORE.match(line)
        if match:
            more += int(match.group(1))
        else:
            kept.append(line)
    return kept, more


def _addresses(found: Tuple[str, ...], more: int) -> str:
    return ", ".join(found) + (" (+%d more)" % more if more else "")


def _as(target: Target, name: str) -> str:
    """The name that answered, when the search domains made it another than the one asked for."""
    name = name.rstrip(".")
    return ", as %s" % name if name.lower() != target.host.rstrip(".").lower() else ""


def _http(target: Target, via: str, rc: int, text: str, insecure: bool) -> Verdict:
    if via == "none":
        return Verdict(target, "error", "the probe image has neither curl nor wget: use --image %s" % _BETTER_IMAGE,
                       text, via, rc)
    main, _, unverified = text.partition("with --insecure:")   # curl, then again without verification
    main, _, openssl = main.partition("openssl:")                      # wget, then openssl's look at the server
    lowered, ssl_lowered = main.lower(), openssl.lower()
    statuses = _statuses(main)
    cert, failed = _certificate(via, rc, main, openssl, unverified, statuses, insecure) \
        if target.scheme == "https" else (None, False)

    def verdict(outcome: str, detail: str) -> Verdict:
        return Verdict(target, outcome, detail, text, via, rc, certificate=cert)

    if failed and not insecure:
        # busybox wget fetched without a check (openssl's was the check): its status is the unverified answer.
        answered = _statuses(unverified) or (statuses if via == "wget" else [])
        return verdict("tls", "certificate not trusted: %s%s%s" % (
            cert.problem if cert and cert.problem else "verification failed", _cert_text(cert, problem=False),
            "; without verification the server answers HTTP %d (--insecure skips the check)" % answered[0]
            if answered else ""))
    if statuses:
        detail = "HTTP %d" % statuses[0]
        if len(statuses) > 1 and via != "curl":
            detail += ", then %s (wget follows redirects)" % ", ".join(str(s) for s in statuses[1:])
        return Verdict(target, "open", detail + _cert_text(cert), text, via, rc, http_status=statuses[0],
                       certificate=cert)
    plain = next((p for p in _NOT_TLS if p in lowered or p in ssl_lowered), "")
    if (via == "curl" and rc == 35) or plain or (via == "gnu-wget" and "unable to establish ssl" in lowered):
        said = [line for line in _lines(main) if "tls" in line.lower() or "ssl" in line.lower()]
        return verdict("tls", "TLS handshake failed%s: %s" % (
            " (the port does not speak TLS: plain http://?)" if plain else "",
            said[-1] if said else "openssl: %s" % plain if plain else _last(main)))
    if via == "wget" and ("handshake failure" in lowered or "tls error" in lowered):
        return verdict("error", "the port answers TLS, but busybox wget's own TLS could not finish the handshake "
                       "(it knows few ciphers and no client certificates): use --image %s" % _BETTER_IMAGE)
    if "not an http or ftp url" in lowered or "unsupported protocol" in lowered:
        return verdict("error", "this image's wget cannot fetch https:// URLs: use --image %s" % _BETTER_IMAGE)
    if rc in _TIMEOUT_KILLED or (via == "curl" and rc == 28 and "resolving" not in lowered):
        return verdict("timeout", "no HTTP answer within --timeout")
    # busybox wget hands TLS to openssl, which prints nothing: openssl's own look tells why it failed.
    outcome = _said(lowered) or (_said(ssl_lowered) if via == "wget" else None)
    if outcome:
        return verdict(outcome, "")
    if via == "curl" and rc == 52 or "no response from server" in lowered:
        return verdict("error", "connected, but the server closed the connection without an HTTP answer")
    if via == "curl" and rc == 56 or "error getting response" in lowered or "connection reset" in lowered:
        return verdict("error", "connected, but no HTTP answer came: %s" % _last(main))
    if "usage:" in lowered or "invalid option" in lowered or "unrecognized option" in lowered:
        return verdict("error", _OLD_TOOL)
    return verdict("error", _exited(rc, text))


# What a TLS client says of a port that does not speak TLS: OpenSSL (curl, openssl s_client, GNU wget
# built with it), busybox's own TLS, GnuTLS (Debian's GNU wget).
_NOT_TLS = ("wrong version number", "bad tls record", "unexpected tls packet")


def _lines(text: str) -> List[str]:
    return [line.strip() for line in text.split(LINE_SEP.strip()) if line.strip()]


def _last(text: str) -> str:
    lines = _lines(text)
    return lines[-1] if lines else ""


def _statuses(text: str) -> List[int]:
    """The status codes of the answers, in order: curl's `< HTTP/1.1 200 OK`, wget's `HTTP/1.1 200 OK`."""
    found = [_HTTP_STATUS.match(line[2:] if line.startswith("< ") else line) for line in _lines(text)]
    return [int(m.group(1)) for m in found if m]


def _certificate(via: str, rc: int, main: str, openssl: str, unverified: str, statuses: List[int],
                 insecure: bool) -> Tuple[Optional[Certificate], bool]:
    """The certificate as the tools told it, and whether a check found it bad.

    Its subject, issuer and expiry come from any of curl -v's runs or openssl's look. Whether it
    verifies comes only from a check: curl's own run (never its -k run: curl -k loads no CA bundle,
    and its "verify result" is noise), GNU wget's, or openssl s_client's when it got a certificate."""
    found = {}
    for line in _lines(LINE_SEP.join((main, openssl, unverified))):
        line = line.lstrip("*").strip()
        for key, prefixes in (("subject", ("subject:", "subject=")), ("issuer", ("issuer:", "issuer=")),
                              ("expires", ("expire date:", "notAfter="))):
            for prefix in prefixes:
                if line.startswith(prefix) and key not in found:
                    found[key] = line[len(prefix):].strip()
    verified: Optional[bool] = None
    problem, failed = "", False
    if via == "curl" and not insecure:
        for line in _lines(main):
            line = line.lstrip("*").strip()
            said = _CURL_PROBLEM.match(line)
            if said:
                verified, problem, failed = False, said.group(1).strip(), True
            elif line.startswith("SSL certificate verify ok") and not failed:
                verified = True
        if rc in (51, 60) and not failed:   # a curl that words it otherwise (GnuTLS, older ones)
            verified, problem, failed = False, next((line for line in reversed(_lines(main))
                                                     if line.startswith("curl: (")), ""), True
        elif verified is None and rc == 0 and statuses:   # an answer over https without -k: curl verified
            verified = True
    elif via == "gnu-wget":
        # ERROR:/WARNING: lines, and unprefixed ones (GnuTLS: "The certificate's owner does not match hostname ...";
        # OpenSSL: "  Self-signed certificate encountered."); not "Loaded CA certificate '...'" nor the advice.
        said = [line.split(":", 1)[1].strip() if line.startswith(("ERROR:", "WARNING:")) else line
                for line in _lines(main) if "certificate" in line.lower()
                and not line.startswith("Loaded CA certificate") and "--no-check-certificate" not in line]
        specific = [line for line in said if not line.endswith("is not trusted.")]
        if said:
            verified, problem, failed = False, (specific or said)[0], rc == 5
        elif rc == 5:
            verified, problem, failed = False, _openssl_problem(openssl) or "verification failed", True
        elif rc in (0, 8) and statuses and not insecure:   # 8: the server answered with an error status
            verified = True
    elif via == "wget":
        code = _VERIFY_CODE.search(openssl)
        if code and "subject=" in openssl:   # s_client says 0 (ok) too when it got no certificate at all
            if code.group(1) == "0":
                verified, problem = True, "checked by openssl s_client; busybox wget fetched without its own check"
            else:
                verified, problem, failed = False, "%s (openssl's check)" % code.group(2), True
        elif openssl.strip():
            verified, problem = False, "openssl got no certificate from the server to check"
        elif not insecure:
            verified, problem = False, "busybox wget cannot verify certificates (curl can: --image %s)" % _BETTER_IMAGE
    if not found and not failed and not statuses:   # no answer, nothing checked: nothing to tell
        return None, False
    if insecure and verified is None:
        verified, problem = False, NOT_CHECKED
    cert = Certificate(found.get("subject", ""), found.get("issuer", ""), found.get("expires", ""), verified, problem)
    return (cert if cert != Certificate() else None), failed


# curl's own run: `curl: (60) SSL certificate problem: self-signed certificate`,
# `curl: (60) SSL: no alternative certificate subject name matches target host name '127.0.0.1'`.
_CURL_PROBLEM = re.compile(r"^curl: \((?:51|60)\) SSL(?: certificate problem)?: (.*)$")


_VERIFY_CODE = re.compile(r"Verify return code: (\d+) \(([^)]*)\)")


def _openssl_problem(openssl: str) -> str:
    code = _VERIFY_CODE.search(openssl)
    return "%s (openssl's check)" % code.group(2) if code and code.group(1) != "0" else ""


def _cert_text(cert: Optional[Certificate], problem: bool = True) -> str:
    if cert is None:
        return ""
    parts = []
    if problem:
        if cert.verified:
            parts.append("certificate verified" + (" (%s)" % cert.problem if cert.problem else ""))
        elif cert.verified is False and cert.problem == NOT_CHECKED:
            parts.append("certificate " + NOT_CHECKED)
        elif cert.verified is False:
            parts.append("certificate not verified: %s" % cert.problem if cert.problem else "certificate not verified")
    if cert.subject:
        parts.append("subject %s" % cert.subject)
    if cert.expires:
        parts.append("expires %s" % cert.expires)
    return "".join("; " + p for p in parts)


DONE = "done"


def parse_line(targets: Sequence[Target], line: str) -> Union[Tuple[int, Verdict], str, None]:
    """(index, verdict) for a result line, DONE for the end marker, None for anything else.

    A result line is read by its index: it must start with `reach[N] KIND A B rc=`, the words of
    target N, so no host or URL text (nor a tool's output: the script leaves no `reach[` in it)
    can pass for another target's line."""
    line = line.rstrip("\r\n")
    head = _HEAD.match(line)
    if head:
        index = int(head.group(1)) - 1
        if 0 <= index < len(targets):
            for insecure in (False, True):
                prefix = "reach[%d] %s rc=" % (index + 1, " ".join(probe_words(targets[index], insecure)))
                rest = _REST.match(line[len(prefix):]) if line.startswith(prefix) else None
                if rest:
                    return index, classify(targets[index], rest.group(2), int(rest.group(1)), rest.group(3), insecure)
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
