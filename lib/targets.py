"""Parsing and validating what the user typed: targets (HOST:PORT, tcp://, udp://, http(s)://,
--dns NAME) and durations."""
from __future__ import annotations

import ipaddress
import math
import re
from typing import NamedTuple

from .errors import UsageError

# One DNS label: letters, digits, '-' and '_' (some internal names use '_'), not starting
# or ending with '-'. Anything else never reaches the probe: hosts become nc arguments.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
# What a URL's path and query may hold (RFC 3986 pchar, '/' and '?'); '%' only as %XX. No spaces,
# no '#', nothing beyond ASCII: the probe prints the URL on its one result line.
_PATH = re.compile(r"^/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$")
_SCOPE = re.compile(r"[A-Za-z0-9_.-]{1,64}")   # an IPv6 zone (an interface name or number), whole
SCHEMES = ("tcp", "udp", "http", "https", "dns")
DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL = 2000


class Target(NamedTuple):
    host: str
    port: int                 # 0 for a dns target: the pod's resolver picks its own
    scheme: str = "tcp"       # tcp | udp | http | https | dns
    path: str = ""            # http(s): the path and query ("/" at least); "" otherwise

    def __str__(self) -> str:
        if self.scheme == "dns":
            return "dns://%s" % self.host
        host = "[%s]" % self.host if ":" in self.host else self.host
        if self.scheme in DEFAULT_PORTS:
            port = "" if self.port == DEFAULT_PORTS[self.scheme] else ":%d" % self.port
            return "%s://%s%s%s" % (self.scheme, host, port, self.path or "/")
        text = "%s:%d" % (host, self.port)
        return text if self.scheme == "tcp" else "%s://%s" % (self.scheme, text)

    @property
    def protocol(self) -> str:
        """The transport, as NetworkPolicies and Services name it."""
        return "UDP" if self.scheme == "udp" else "TCP"


def parse_target(text: str) -> Target:
    """Parse `host:port`, `[v6addr]:port`, `tcp://...`, `udp://host:port`, `http(s)://host[:port][/path]`
    or `dns://name` into a Target, or raise UsageError."""
    raw = text
    if text != text.strip() or not text:
        raise UsageError("invalid target %r: expected HOST:PORT, e.g. db:5432 or [::1]:443" % raw)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return _host_port(raw, text)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError("invalid target %r: reach probes tcp://, udp://, http:// and https:// targets (and names "
                         "with --dns), not %s://" % (raw, scheme))
    if scheme == "dns":
        return parse_dns(rest, "target %r" % raw)
    if scheme in DEFAULT_PORTS:
        return _url(raw, scheme, rest)
    if "/" in rest or "?" in rest:
        raise UsageError("invalid target %r: a %s target is HOST:PORT, with no path" % (raw, scheme))
    return _host_port(raw, rest, scheme + "://")._replace(scheme=scheme)


def parse_dns(text: str, what: str = "") -> Target:
    """`--dns NAME`: a name to resolve with the pod's resolver (its resolv.conf and search domains)."""
    what = what or "--dns %r" % text
    if text != text.strip() or not text:
        raise UsageError("invalid %s: expected a name, e.g. db or db.shop.svc.cluster.local" % what)
    if _is_ip(text):
        raise UsageError("invalid %s: %s is an address, not a name to resolve" % (what, text))
    if ":" in text or "/" in text:
        raise UsageError("invalid %s: give the name alone, without a port or path" % what)
    _check_hostname(what, text)
    return Target(text, 0, "dns")


def _host_port(raw: str, text: str, prefix: str = "") -> Target:
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1:].startswith(":"):
            raise UsageError("invalid target %r: write an IPv6 address as [ADDR]:PORT, e.g. [::1]:443" % raw)
        host, port_text = text[1:end], text[end + 2:]
        _check_ipv6(raw, host)
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise UsageError("invalid target %r: missing port; expected HOST:PORT, e.g. %s%s:443" % (raw, prefix, text))
        if ":" in host:
            raise UsageError("invalid target %r: write an IPv6 address in brackets, e.g. [%s]:%s" % (raw, host, port_text))
        _check_hostname("target %r" % raw, host)
    return Target(host, _parse_port(raw, port_text))


def _url(raw: str, scheme: str, rest: str) -> Target:
    """http(s)://HOST[:PORT][/PATH][?QUERY]: the URL curl or wget will fetch."""
    if len(raw) > _MAX_URL:
        raise UsageError("invalid target %r...: a URL of at most %d characters" % (raw[:40], _MAX_URL))
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
    authority, path = rest[:cut], rest[cut:]
    if path.startswith("?"):
        path = "/" + path
    path = path or "/"
    if "@" in authority:
        raise UsageError("invalid target %r: no user or password in the URL: reach would write it into the pod spec, "
                         "where anyone who can read the pod sees it" % raw)
    if "#" in path:
        raise UsageError("invalid target %r: drop the #fragment (it is never sent to the server)" % raw)
    if not _PATH.match(path):
        raise UsageError("invalid target %r: the path may hold only URL characters (letters, digits, -._~!$&'()*+,;=:@/? "
                         "and %%XX escapes; a space is %%20)" % raw)
    port = DEFAULT_PORTS[scheme]
    if authority.startswith("["):
        end = authority.find("]")
        host, after = (authority[1:end], authority[end + 1:]) if end > 0 else ("", "x")
        if after and not after.startswith(":"):
            raise UsageError("invalid target %r: write an IPv6 address as [ADDR] or [ADDR]:PORT, e.g. "
                             "%s://[::1]:8443/" % (raw, scheme))
        _check_ipv6(raw, host)
        if after:
            port = _parse_port(raw, after[1:])
    else:
        host, sep, port_text = authority.rpartition(":") if ":" in authority else (authority, "", "")
        if ":" in host:
            raise UsageError("invalid target %r: write an IPv6 address in brackets, e.g. %s://[%s]/"
                             % (raw, scheme, authority))
        if not host:
            raise UsageError("invalid target %r: empty host, e.g. %s://web/healthz" % (raw, scheme))
        _check_hostname("target %r" % raw, host)
        if sep:
            port = _parse_port(raw, port_text)
    return Target(host, port, scheme, path)


def _check_ipv6(raw: str, host: str) -> None:
    """An IPv6 address, with a scope (`%eth0`, `%25eth0` in a URL) of letters, digits and `_.-` only:
    Python 3.9+ takes anything after `%`, and the host is printed on the probe's result line."""
    address, sep, scope = host.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise UsageError("invalid target %r: %r is not an IPv6 address" % (raw, host)) from None
    if sep and not _SCOPE.fullmatch(scope):
        raise UsageError("invalid target %r: the scope of IPv6 address %r may hold only letters, digits, '_', '.' "
                         "and '-' (e.g. %%eth0)" % (raw, address))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


def _check_hostname(what: str, host: str) -> None:
    """`what` names the input in the message: "target 'db:80'", "--dns 'db'"."""
    if not host:
        raise UsageError("invalid %s: empty host; expected HOST:PORT, e.g. db:5432" % what)
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        raise UsageError("invalid %s: host names must be ASCII; write an international name in "
                         "its xn-- (punycode) form" % what) from None
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise UsageError("invalid %s: %r is not a valid host name or IP address" % (what, host))


def _parse_port(raw: str, text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise UsageError("invalid target %r: port must be a number from 1 to 65535" % raw)
    port = int(text)
    if not 1 <= port <= 65535:
        raise UsageError("invalid target %r: port %d is out of range 1-65535" % (raw, port))
    return port


def parse_duration(text: str, flag: str, limit: float = 3600.0) -> float:
    """Seconds from `5`, `2.5`, or Go-style `5s`, `1m30s`, `500ms`, `1h`."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _parse_go_duration(value)
        if seconds is None:
            raise UsageError("invalid %s %r: use seconds (10) or a duration like 10s, 1m, 1m30s" % (flag, text)) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError("invalid %s %r: must be a finite time greater than zero" % (flag, text))
    if seconds > limit:
        raise UsageError("invalid %s %r: at most %gs" % (flag, text, limit))
    return seconds


def _parse_go_duration(text: str) -> float | None:
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * scale[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        return None
    return total
