import pytest

from lib.errors import UsageError
from lib.targets import Target, parse_dns, parse_duration, parse_target


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
    # a scope (zone) of anything: Python 3.9+ takes it, and the host is printed on the probe's result line
    ("[::1%x rc=0 nc-u: fake]:18055", "the scope of IPv6 address '::1' may hold only"),
    ("[fe80::1%]:80", "the scope of IPv6 address 'fe80::1' may hold only"),
    ("[fe80::1%$(id)]:80", "may hold only letters, digits"),
    ("[db%eth0]:80", "not an IPv6 address"),
    ("%s.com:80" % ("a" * 64), "not a valid host name"),
    ("%s:80" % ".".join(["a" * 63] * 5), "not a valid host name"),
])
def test_invalid_targets(text, says):
    with pytest.raises(UsageError) as info:
        parse_target(text)
    assert says in info.value.message


def test_an_ipv6_scope_of_an_interface_name_or_number():
    assert parse_target("[fe80::1%eth0]:80") == Target("fe80::1%eth0", 80)
    assert parse_target("udp://[fe80::1%2]:53") == Target("fe80::1%2", 53, "udp")
    assert str(parse_target("https://[fe80::1%25eth0.1]:8443/")) == "https://[fe80::1%25eth0.1]:8443/"   # RFC 6874


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


@pytest.mark.parametrize("text, target, printed", [
    ("tcp://db:5432", Target("db", 5432), "db:5432"),                       # tcp is the default scheme
    ("TCP://[::1]:443", Target("::1", 443), "[::1]:443"),
    ("udp://kube-dns.kube-system:53", Target("kube-dns.kube-system", 53, "udp"), "udp://kube-dns.kube-system:53"),
    ("udp://[fd00::10]:53", Target("fd00::10", 53, "udp"), "udp://[fd00::10]:53"),
    ("http://web", Target("web", 80, "http", "/"), "http://web/"),
    ("http://web:80/", Target("web", 80, "http", "/"), "http://web/"),
    ("https://api.example.com/healthz?full=1&x=a%20b", Target("api.example.com", 443, "https", "/healthz?full=1&x=a%20b"),
     "https://api.example.com/healthz?full=1&x=a%20b"),
    ("https://10.0.0.5:8443/ready", Target("10.0.0.5", 8443, "https", "/ready"), "https://10.0.0.5:8443/ready"),
    ("http://[::1]:8080/x", Target("::1", 8080, "http", "/x"), "http://[::1]:8080/x"),
    ("https://[::1]", Target("::1", 443, "https", "/"), "https://[::1]/"),
    ("http://web?probe=1", Target("web", 80, "http", "/?probe=1"), "http://web/?probe=1"),
    ("dns://db.shop.svc.cluster.local.", Target("db.shop.svc.cluster.local.", 0, "dns"), "dns://db.shop.svc.cluster.local."),
])
def test_schemes(text, target, printed):
    parsed = parse_target(text)
    assert parsed == target and str(parsed) == printed
    assert parse_target(str(parsed)) == parsed      # what reports print reads back (plan files, history)


def test_the_scheme_is_part_of_a_target():
    assert parse_target("tcp://db:53") == parse_target("db:53") == Target("db", 53)
    assert parse_target("udp://db:53") != parse_target("db:53")
    assert parse_target("http://web/a") != parse_target("http://web/b")
    assert len({parse_target("db:80"), parse_target("udp://db:80"), parse_target("http://db/"), parse_dns("db")}) == 4
    assert (parse_target("udp://db:53").protocol, parse_target("https://db/").protocol) == ("UDP", "TCP")


@pytest.mark.parametrize("text, says", [
    ("ftp://db:21", "reach probes tcp://, udp://, http:// and https:// targets (and names with --dns), not ftp://"),
    ("udp://db", "missing port; expected HOST:PORT, e.g. udp://db:443"),
    ("udp://db:53/x", "a udp target is HOST:PORT, with no path"),
    ("tcp://db:5432?x", "a tcp target is HOST:PORT, with no path"),
    ("udp://db:0", "out of range"),
    ("http://", "empty host, e.g. http://web/healthz"),
    ("http:///healthz", "empty host"),
    ("http://web:99999/", "out of range"),
    ("http://web:http/", "port must be a number"),
    ("https://user:secret@web/", "no user or password in the URL"),
    ("http://web/a b", "the path may hold only URL characters"),
    ('http://web/"x"', "the path may hold only URL characters"),
    ("http://web/`id`", "the path may hold only URL characters"),
    ("http://web/caf\u00e9", "the path may hold only URL characters"),
    ("http://web/%zz", "%XX escapes"),
    ("http://web/#top", "drop the #fragment"),
    ("http://::1/", "write an IPv6 address in brackets, e.g. http://[::1]/"),
    ("http://[::1/", "write an IPv6 address as [ADDR] or [ADDR]:PORT"),
    ("http://[web]/", "'web' is not an IPv6 address"),
    ("udp://[::1%x rc=0 nc-u: fake]:18055", "the scope of IPv6 address '::1' may hold only"),
    ("https://[fe80::1%x;y]/", "the scope of IPv6 address 'fe80::1' may hold only"),
    ("http://-x/", "not a valid host name"),
    ("http://web/" + "a" * 2000, "a URL of at most 2000 characters"),
    ("dns://10.0.0.1", "10.0.0.1 is an address, not a name to resolve"),
    ("dns://db:53", "give the name alone, without a port or path"),
    ("dns://", "expected a name"),
])
def test_invalid_scheme_targets(text, says):
    with pytest.raises(UsageError) as info:
        parse_target(text)
    assert says in info.value.message and "\n" not in info.value.message


@pytest.mark.parametrize("text, says", [
    ("", "invalid --dns '': expected a name"),
    (" db", "expected a name"),
    ("[::1]", "[::1] is an address"),
    ("db/x", "without a port or path"),
    ("$(id)", "not a valid host name"),
    ("-db", "not a valid host name"),
    ("b\u00fccher.example", "must be ASCII"),
])
def test_invalid_dns_names(text, says):
    with pytest.raises(UsageError) as info:
        parse_dns(text)
    assert says in info.value.message
