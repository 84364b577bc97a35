"""The udp, dns, http and https probes end to end: reach.py against the stub kubectl replaying
fixtures/probe-*.jsonl (the recorded open.jsonl flow; the probe's log from the real tools' output)."""
import io
import json

from lib import cli


def test_udp_says_what_open_means(reach):
    r = reach("probe-udp")
    assert r.code == 1, r.err
    assert r.out.splitlines()[:2] == [
        "✓ udp://127.0.0.1:18053 open (no ICMP port-unreachable came back: open, or filtered (UDP has no handshake: "
        "a firewall or NetworkPolicy that drops datagrams looks the same))",
        "✗ udp://127.0.0.1:18081 refused (ICMP port unreachable came back: nothing listens on that UDP port)"]
    assert "(nicolaka/netshoot:v0.13)" in r.out.splitlines()[2]


def test_dns_names_what_the_pod_resolves(reach):
    r = reach("probe-dns", "-o", "json")
    assert r.code == 1, r.err
    resolved, missing = json.loads(r.out)["targets"]
    assert resolved == {"target": "dns://db.shop", "scheme": "dns", "host": "db.shop", "port": None, "verdict": "open",
                        "reachable": True, "detail": "resolves to 10.96.251.9, as db.shop.svc.cluster.local",
                        "raw": "10.96.251.9     STREAM db.shop.svc.cluster.local", "via": "getent", "rc": 0,
                        "addresses": ["10.96.251.9"]}
    assert (missing["verdict"], missing["addresses"], missing["rc"]) == ("dns", [], 2)


def test_http_reports_the_status_code(reach):
    r = reach("probe-http")
    assert r.code == 1, r.err   # the closed port
    assert r.out.splitlines()[:4] == [
        "✓ http://127.0.0.1:18080/ open (HTTP 200)",
        "✓ http://127.0.0.1:18080/missing open (HTTP 404)",
        "✗ http://127.0.0.1:18081/ refused",
        "✓ https://127.0.0.1:18444/ open (HTTP 200; certificate not verified: busybox wget cannot verify certificates "
        "(curl can: --image nicolaka/netshoot:v0.13))"]


def test_https_explains_a_certificate_that_does_not_verify(reach):
    r = reach("probe-https", "-o", "json")
    assert r.code == 1, r.err
    untrusted, refused = json.loads(r.out)["targets"]
    assert untrusted["verdict"] == "tls" and untrusted["httpStatus"] is None and untrusted["path"] == "/"
    assert untrusted["certificate"] == {"subject": "CN=localhost", "issuer": "CN=localhost",
                                        "expires": "Dec 22 16:41:56 2026 GMT", "verified": False,
                                        "problem": "self-signed certificate"}   # curl's own run, not its -k one
    assert untrusted["detail"].endswith("without verification the server answers HTTP 200 (--insecure skips the check)")
    assert (refused["verdict"], refused["via"], refused["rc"]) == ("refused", "curl", 7)


def test_insecure_reaches_the_probe_as_a_parameter():
    out = io.StringIO()
    code = cli.main(["--to", "https://web/,http://web/", "--dns", "db", "--insecure", "--print-patch", "--name",
                     "reach-x", "--kubectl", "/nonexistent/kubectl"], out=out, err=io.StringIO(), env={})
    command = json.loads(out.getvalue())["spec"]["ephemeralContainers"][0]["command"]
    assert code == 0 and command[3:] == ["reach", "3", "https", "https://web/", "insecure", "http", "http://web/", "-",
                                         "dns", "db", "-"]
