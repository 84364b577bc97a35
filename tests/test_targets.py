import pytest

from lib.errors import UsageError
from lib.targets import Target, parse_duration, parse_target


@pytest.mark.parametrize("text, host, port", [
    ("db:5432", "db", 5432),
    ("10.0.0.5:443", "10.0.0.5", 443),
    ("[::1]:443", "::1", 443),
    ("[2001:db8::1]:8080", "2001:db8::1", 8080),
    ("db.shop.svc.cluster.local:5432", "db.shop.svc.cluster.local", 5432),
    ("db.shop.svc.cluster.local.:5432", "db.shop.svc.cluster.local.", 5432),
    ("my_svc.internal:1", "my_svc.internal", 1),
    ("xn--bcher-kva.example:65535", "xn--bcher-kva.example", 65535),
    ("localhost:080", "localhost", 80),
])
def test_valid_targets(text, host, port):
    assert parse_target(text) == Target(host, port)


@pytest.mark.parametrize("text, says", [
    ("", "expected HOST:PORT"),
    (":443", "empty host"),
    ("db", "missing port"),
    ("db:", "port must be a number"),
    ("db:0", "out of range"),
    ("db:65536", "out of range"),
    ("db:http", "port must be a number"),
    ("db:-1", "port must be a number"),
    ("db:+80", "port must be a number"),
    ("db:٣", "port must be a number"),            # a non-ASCII digit
    (" db:80", "expected HOST:PORT"),
    ("db:80 ", "expected HOST:PORT"),
    ("d b:80", "not a valid host name"),
    ("db;rm -rf /:80", "not a valid host name"),
    ("$(reboot):80", "not a valid host name"),
    ("`id`:80", "not a valid host name"),
    ("db|nc:80", "not a valid host name"),
    ("-e/bin/sh:80", "not a valid host name"),     # would be an nc option
    ("-db:80", "not a valid host name"),
    ("db-.local:80", "not a valid host name"),
    ("a..b:80", "not a valid host name"),
    ("bücher.example:80", "must be ASCII"),
    ("::1:443", "in brackets"),
    ("[::1]443", "as [ADDR]:PORT"),
    ("[::1:443", "as [ADDR]:PORT"),
    ("[db]:443", "not an IPv6 address"),
    ("[::1]:0", "out of range"),
    ("%s.com:80" % ("a" * 64), "not a valid host name"),
    ("%s:80" % ".".join(["a" * 63] * 5), "not a valid host name"),
])
def test_invalid_targets(text, says):
    with pytest.raises(UsageError) as info:
        parse_target(text)
    assert says in info.value.message


def test_target_prints_as_typed():
    assert str(parse_target("[::1]:443")) == "[::1]:443"
    assert str(parse_target("db:5432")) == "db:5432"


@pytest.mark.parametrize("text, seconds", [
    ("5", 5), ("2.5", 2.5), ("5s", 5), ("1m", 60), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("10s", 10),
])
def test_durations(text, seconds):
    assert parse_duration(text, "--timeout") == seconds


@pytest.mark.parametrize("text", ["", "0", "-1", "5x", "s", "1m 30s", "ten", "0s", "inf", "nan", "-inf", "2h"])
def test_bad_durations(text):
    with pytest.raises(UsageError) as info:
        parse_duration(text, "--timeout")
    assert "--timeout" in info.value.message
