"""Parsing and validating what the user typed: HOST:PORT targets and durations."""
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


class Target(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)


def parse_target(text: str) -> Target:
    """Parse `host:port`, `[v6addr]:port` or `v4addr:port` into a Target, or raise UsageError."""
    raw = text
    if text != text.strip() or not text:
        raise UsageError("invalid target %r: expected HOST:PORT, e.g. db:5432 or [::1]:443" % raw)
    scheme, sep, rest = text.partition("://")
    if sep:
        bare = rest.split("/", 1)[0]
        raise UsageError("invalid target %r: reach probes TCP ports: give HOST:PORT without %s:// (%s)"
                         % (raw, scheme, bare if ":" in bare else "e.g. %s:%s" % (bare, {"https": 443}.get(scheme, 80))))
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1:].startswith(":"):
            raise UsageError("invalid target %r: write an IPv6 address as [ADDR]:PORT, e.g. [::1]:443" % raw)
        host, port_text = text[1:end], text[end + 2:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError("invalid target %r: %r is not an IPv6 address" % (raw, host)) from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise UsageError("invalid target %r: missing port; expected HOST:PORT, e.g. %s:443" % (raw, text))
        if ":" in host:
            raise UsageError("invalid target %r: write an IPv6 address in brackets, e.g. [%s]:%s" % (raw, host, port_text))
        _check_hostname(raw, host)
    return Target(host, _parse_port(raw, port_text))


def _check_hostname(raw: str, host: str) -> None:
    if not host:
        raise UsageError("invalid target %r: empty host; expected HOST:PORT, e.g. db:5432" % raw)
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        raise UsageError("invalid target %r: host names must be ASCII; write an international name in "
                         "its xn-- (punycode) form" % raw) from None
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise UsageError("invalid target %r: %r is not a valid host name or IP address" % (raw, host))


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
