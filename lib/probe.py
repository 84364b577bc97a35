"""The probe that runs inside the ephemeral container, and the reading of its output.

The script is constant text: targets reach it only as positional parameters, three words
each (`sh -c SCRIPT reach WAIT KIND A B KIND A B ...`), so no host name, URL or path can
change what the shell runs:

    tcp HOST PORT      udp HOST PORT      dns NAME -      http URL -      https URL -|insecure

It prints one line per target:

    reach[1] tcp 127.0.0.1 18080 rc=0 nc-z: 127.0.0.1 (127.0.0.1:18080) open

and `reach[done] N` at the end, so a complete log needs no further status read. Targets are
probed in parallel (one background job each), so a run takes one --timeout at most, not one
per target; their lines come in the order they finish. The same lines go to the container's
termination message (/dev/termination-log, which the kubelet makes writable for any user):
when the first state reach sees is `terminated`, the verdicts come with it, and no
`kubectl logs` is needed.

The script consumes all its positional parameters, never exits and does not use $0: a reuse
agent runs it between its own head and idle loop (agents.py).
"""
from __future__ import annotations

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
#          bash  bash's /dev/udp: a datagram, then a read under -t: an answer, or the ICMP error
#   dns:   getent  the libc resolver (resolv.conf, its search domains and ndots, /etc/hosts)
#          hosts   the name is in /etc/hosts (images without getent: the script reads it)
#          nslookup  busybox's nslookup reads only the nameserver lines: the script walks the
#                search domains itself, as libc does, and stops at the first name that answers
#   http:  curl  curl -v (verifies certificates; prints the server's certificate)
#          wget  busybox wget -S --spider: a GET (its own TLS does not verify certificates)
#          gnu-wget  GNU wget -S -O/dev/null (a GET: its --spider sends HEAD); it verifies, and says
#                nothing of the certificate
#   any:   none  the image has no tool for this probe
# Official busybox `nc -zv` is silent on a refused port (it prints every other failure),
# hence `-v` and the empty-output rule in classify(); `nc -uzv` is silent the same way.
SCRIPT = r"""w=$1; shift; i=0
set -f; nl='
'; cr=$(printf '\r')
tl=/dev/termination-log; [ -w "$tl" ] || tl=/dev/null
say() { printf '%s\n' "$1"; printf '%s\n' "$1" >> "$tl"; }
have() { command -v "$1" >/dev/null 2>&1; }
lim() { if have timeout; then timeout "$@"; else shift; "$@"; fi; }
only() { (x=$1; shift; IFS=$nl; for l in $x; do l=${l%"$cr"}
  for p in "$@"; do case $l in $p) printf '%s\n' "$l"; break ;; esac; done; done) }
bad() { case $1 in *"invalid option"*|*"unrecognized option"*|*"illegal option"*) return 0 ;; esac; return 1; }
p_tcp() {
  if have nc; then
    via=nc-z; out=$(nc -z -v -w "$w" "$1" "$2" </dev/null 2>&1); rc=$?
    if bad "$out"; then via=nc; out=$(lim $((w + 1)) nc -w "$w" "$1" "$2" </dev/null 2>&1 >/dev/null); rc=$?; fi
  elif have bash; then
    via=bash; out=$(lim "$w" bash -c 'exec 3<>"/dev/tcp/$1/$2"' reach "$1" "$2" 2>&1); rc=$?
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
    via=bash; out=$(lim $((w + 1)) bash -c 'exec 3<>"/dev/udp/$1/$2" && printf x >&3 && read -r -t "$3" -n 1 <&3' \
      reach "$1" "$2" "$w" 2>&1); rc=$?
  fi
}
p_dns() {
  if have getent; then
    via=getent; out=$(lim "$w" getent ahosts "$1" 2>&1); rc=$?
    if [ "$rc" = 1 ]; then out=$(lim "$w" getent hosts "$1" 2>&1); rc=$?
    elif [ "$rc" = 0 ]; then out=$(only "$out" '*STREAM*'); fi
    return
  fi
  if [ -r /etc/hosts ]; then
    via=hosts; rc=0
    out=$(while read -r a h; do case $a in ''|'#'*) continue ;; esac
      for x in $h; do case $x in '#'*) break ;; "${1%.}") printf '%s %s\n' "$a" "$x" ;; esac; done; done </etc/hosts)
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
  tried=
  for x in $names; do
    tried="$tried $x"; o=$(lim "$w" nslookup "$x" 2>&1); rc=$?
    case $o in *"Name:"*) out="tried:$tried$nl$(only "$o" 'Name:*' 'Address: *')"; return ;; esac
    case $rc in 124|143) o="$o${nl}nslookup: gave up after ${w}s"; break ;; esac
    case $o in *"timed out"*|*"no servers"*) break ;; esac
  done
  out="tried:$tried$nl$(only "$o" '*find*' '*timed out*' '*gave up*' '*o answer*' '*sage:*' 'nslookup: *')"
}
p_web() {
  ins=; [ "$3" = insecure ] && ins=1
  if have curl; then
    via=curl; out=$(lim $((w + 1)) curl -sS -v -o /dev/null --max-time "$w" ${ins:+-k} "$2" 2>&1); rc=$?
    case $rc in 51|60) o=$(lim $((w + 1)) curl -sS -v -o /dev/null --max-time "$w" -k "$2" 2>&1)
      out="$out${nl}with --insecure:$nl$o" ;;
    esac
    out=$(only "$out" '< HTTP/*' 'curl: (*' '*connect to * failed*' '*subject:*' '*expire date:*' '*issuer:*' \
      '*certificate verify*' 'with --insecure:')
  elif have wget; then
    case $(wget --version 2>&1) in *"GNU Wget"*) via=gnu-wget; o=-O/dev/null ;; *) via=wget; o=--spider ;; esac
    out=$(lim "$w" wget -S "$o" ${ins:+--no-check-certificate} "$2" 2>&1); rc=$?
    out=$(only "$out" '  HTTP/*' 'wget: *' 'Connecting to *' 'Resolving *' '*ERROR*' '*WARNING*' '*sage:*')
    if [ "$1" = https ] && have openssl; then
      x=${2#*://}; x=${x%%/*}
      case $x in \[*\]) x=$x:443 ;; \[*) ;; *:*) ;; *) x=$x:443 ;; esac
      o=$(lim "$w" openssl s_client -connect "$x" </dev/null 2>&1)
      out="$out${nl}openssl:$nl$(printf '%s\n' "$o" | openssl x509 -noout -subject -enddate -issuer 2>/dev/null)"
      out="$out$nl$(only "$o" 'Verify return code:*')"
    fi
  else
    via=none; out="this image has neither curl nor wget"; rc=127
  fi
}
check() {
  case $2 in
    tcp) p_tcp "$3" "$4" ;;
    udp) p_udp "$3" "$4" ;;
    dns) p_dns "$3" ;;
    http|https) p_web "$2" "$3" "$4" ;;
    *) via=none; out="no probe for $2"; rc=2 ;;
  esac
  IFS=$nl
  say "$(printf 'reach[%s] %s %s %s rc=%s %s: %s' "$1" "$2" "$3" "$4" "$rc" "$via" "$(printf '%s | ' $out)")"
}
while [ $# -ge 3 ]; do
  i=$((i + 1)); check "$i" "$1" "$2" "$3" &
  shift 3
done
shift $#
wait
say "reach[done] $i"
"""

_RESULT = re.compile(r"^reach\[(\d+)\] (.*?) rc=(\d+) ([a-z0-9-]+): ?(.*)$")
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
_HTTP_STATUS = re.compile(r"^HTTP/[0-9.]+ (\d{3})\b")


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
    if via == "bash" and rc == 0:
        return Verdict(target, "open", "a datagram came back: something listens there", text, via, rc)
    if rc == 0 or (via == "bash" and (rc > 128 or rc in _TIMEOUT_KILLED) and not _said(lowered)):
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


def _dns(target: Target, via: str, rc: int, text: str) -> Verdict:
    lines = _lines(text)
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
            return Verdict(target, "open", "resolves to %s%s" % (", ".join(found), where), text, via, rc,
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
        return Verdict(target, "open", "resolves to %s%s" % (", ".join(found), _as(target, names[0])), text, via, rc,
                       addresses=found)
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


def _as(target: Target, name: str) -> str:
    """The name that answered, when the search domains made it another than the one asked for."""
    name = name.rstrip(".")
    return ", as %s" % name if name.lower() != target.host.rstrip(".").lower() else ""


def _http(target: Target, via: str, rc: int, text: str, insecure: bool) -> Verdict:
    if via == "none":
        return Verdict(target, "error", "the probe image has neither curl nor wget: use --image %s" % _BETTER_IMAGE,
                       text, via, rc)
    main, retried, unverified = text.partition("with --insecure:")   # curl, again without verification
    main, _, openssl = main.partition("openssl:")                      # wget, and openssl's look at the server
    lowered = main.lower()
    statuses = _statuses(main)
    cert = _certificate(via, main + openssl + unverified, insecure) if target.scheme == "https" else None
    if statuses:
        detail = "HTTP %d" % statuses[0]
        if len(statuses) > 1 and via != "curl":
            detail += ", then %s (wget follows redirects)" % ", ".join(str(s) for s in statuses[1:])
        return Verdict(target, "open", detail + _cert_text(cert), text, via, rc, http_status=statuses[0],
                       certificate=cert)

    def verdict(outcome: str, detail: str) -> Verdict:
        return Verdict(target, outcome, detail, text, via, rc, certificate=cert)

    if (via == "curl" and rc in (51, 60)) or (via == "gnu-wget" and rc == 5) or \
            (via == "wget" and "error getting response" in lowered and _openssl_failed(openssl)):
        answered = _statuses(unverified)
        return verdict("tls", "certificate not trusted: %s%s%s" % (
            cert.problem if cert and cert.problem else "verification failed", _cert_text(cert, problem=False),
            "; without verification the server answers HTTP %s (--insecure skips the check)" % answered[0]
            if answered else ""))
    if (via == "curl" and rc == 35) or "bad tls record" in lowered or "wrong version number" in lowered:
        plain = "wrong version number" in lowered or "bad tls record" in lowered
        said = [line for line in _lines(main) if "tls record" in line.lower() or "ssl" in line.lower()]
        return verdict("tls", "TLS handshake failed%s: %s" % (
            " (the port does not speak TLS: plain http://?)" if plain else "", (said or [_last(main)])[-1]))
    if via == "wget" and ("handshake failure" in lowered or "tls error" in lowered):
        return verdict("error", "the port answers TLS, but busybox wget's own TLS could not finish the handshake "
                       "(it knows few ciphers and no client certificates): use --image %s" % _BETTER_IMAGE)
    if "not an http or ftp url" in lowered or "unsupported protocol" in lowered:
        return verdict("error", "this image's wget cannot fetch https:// URLs: use --image %s" % _BETTER_IMAGE)
    if rc in _TIMEOUT_KILLED or (via == "curl" and rc == 28 and "resolving" not in lowered):
        return verdict("timeout", "no HTTP answer within --timeout")
    outcome = _said(lowered)
    if outcome:
        return verdict(outcome, "")
    if via == "curl" and rc == 52 or "no response from server" in lowered:
        return verdict("error", "connected, but the server closed the connection without an HTTP answer")
    if via == "curl" and rc == 56 or "error getting response" in lowered or "connection reset" in lowered:
        return verdict("error", "connected, but no HTTP answer came: %s" % _last(main))
    if "usage:" in lowered or "invalid option" in lowered or "unrecognized option" in lowered:
        return verdict("error", _OLD_TOOL)
    return verdict("error", _exited(rc, text))


def _openssl_failed(text: str) -> bool:
    """openssl's own look at the server found a certificate that does not verify."""
    code = re.search(r"Verify return code: (\d+)", text)
    return bool(code) and code.group(1) != "0"


def _lines(text: str) -> List[str]:
    return [line.strip() for line in text.split(LINE_SEP.strip()) if line.strip()]


def _last(text: str) -> str:
    lines = _lines(text)
    return lines[-1] if lines else ""


def _statuses(text: str) -> List[int]:
    """The status codes of the answers, in order: curl's `< HTTP/1.1 200 OK`, wget's `HTTP/1.1 200 OK`."""
    found = [_HTTP_STATUS.match(line[2:] if line.startswith("< ") else line) for line in _lines(text)]
    return [int(m.group(1)) for m in found if m]


def _certificate(via: str, text: str, insecure: bool) -> Optional[Certificate]:
    """The certificate, from curl -v's lines or openssl's; verified as far as the tools tell."""
    found = {}
    for line in text.split(LINE_SEP.strip()):
        line = line.strip().lstrip("*").strip()
        for key, prefixes in (("subject", ("subject:", "subject=")), ("issuer", ("issuer:", "issuer=")),
                              ("expires", ("expire date:", "notAfter="))):
            for prefix in prefixes:
                if line.startswith(prefix) and key not in found:
                    found[key] = line[len(prefix):].strip()
        if line.startswith("SSL certificate verify ok"):
            found["verified"], found["problem"] = True, ""
        elif line.startswith("SSL certificate verify result:"):
            found["verified"] = False
            found["problem"] = line.split(":", 1)[1].replace(", continuing anyway.", "").strip()
        elif "SSL certificate problem:" in line:
            found["verified"], found["problem"] = False, line.split("SSL certificate problem:", 1)[1].strip()
        elif line.startswith("ERROR:") and "certificate" in line and "problem" not in found:
            found["verified"], found["problem"] = False, line[len("ERROR:"):].strip()
        elif line.startswith("Verify return code:") and via != "curl":
            code = line.split(":", 1)[1].strip()
            found.setdefault("openssl", code)
    if via == "wget" and "verified" not in found:
        code = found.get("openssl", "")
        if code.startswith("0 "):
            found["verified"], found["problem"] = True, "checked by openssl; busybox wget itself cannot check it"
        elif code:
            found["verified"], found["problem"] = False, "%s (openssl's check)" % code.split(" ", 1)[-1].strip("()")
        elif not insecure:
            found["verified"] = False
            found["problem"] = "busybox wget cannot verify certificates (curl can: --image %s)" % _BETTER_IMAGE
    elif via == "gnu-wget" and "verified" not in found:
        warned = [line.strip() for line in text.split(LINE_SEP.strip()) if line.strip().startswith("WARNING:")]
        if warned:
            found["verified"], found["problem"] = False, warned[0][len("WARNING:"):].strip()
        elif not insecure:
            found["verified"] = True
    if insecure and found.get("verified") is None:
        found["verified"], found["problem"] = False, "not checked (--insecure)"
    cert = Certificate(found.get("subject", ""), found.get("issuer", ""), found.get("expires", ""),
                       found.get("verified"), found.get("problem", ""))
    return cert if cert != Certificate() else None


def _cert_text(cert: Optional[Certificate], problem: bool = True) -> str:
    if cert is None:
        return ""
    parts = []
    if problem:
        if cert.verified:
            parts.append("certificate verified" + (" (%s)" % cert.problem if cert.problem else ""))
        elif cert.verified is False:
            parts.append("certificate not verified: %s" % cert.problem if cert.problem else "certificate not verified")
    if cert.subject:
        parts.append("subject %s" % cert.subject)
    if cert.expires:
        parts.append("expires %s" % cert.expires)
    return "".join("; " + p for p in parts)


DONE = "done"


def parse_line(targets: Sequence[Target], line: str) -> Union[Tuple[int, Verdict], str, None]:
    """(index, verdict) for a result line, DONE for the end marker, None for anything else."""
    line = line.rstrip("\r\n")
    match = _RESULT.match(line)
    if match:
        index = int(match.group(1)) - 1
        if 0 <= index < len(targets):
            insecure = match.group(2).split(" ")[-1] == "insecure"
            return index, classify(targets[index], match.group(4), int(match.group(3)), match.group(5), insecure)
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
