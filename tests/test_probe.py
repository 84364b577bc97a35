"""The probe script and the reading of its output."""
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT, closed_port, listening_socket
from lib import probe
from lib.targets import Target, parse_dns, parse_target

OPEN, CLOSED = Target("127.0.0.1", 18080), Target("127.0.0.1", 18081)
DNS = Target("no-such-host.invalid", 80)

# (via, rc, text as the real tool printed it in ../shared/recordings) -> outcome
CASES = [
    ("nc-z", 0, "127.0.0.1 (127.0.0.1:18080) open", "open"),                                     # busybox
    ("nc-z", 1, "", "refused"),                                                                 # busybox -v: silent
    ("nc-z", 1, "nc: 127.0.0.1 (127.0.0.1:18081): Connection refused | sent 0, rcvd 0", "refused"),  # busybox -vv
    ("nc-z", 1, "nc: 127.0.0.1 (127.0.0.1:18082): Connection timed out", "timeout"),
    ("nc-z", 1, "nc: bad address 'no-such-host.invalid'", "dns"),
    ("nc-z", 1, "nc: 10.1.2.3 (10.1.2.3:80): No route to host", "unreachable"),
    ("nc-z", 1, "nc: 10.1.2.3 (10.1.2.3:80): Network is unreachable", "unreachable"),
    ("nc-z", 0, "Connection to 127.0.0.1 18080 port [tcp/*] succeeded!", "open"),                # OpenBSD nc
    ("nc-z", 1, "nc: connect to 127.0.0.1 port 18081 (tcp) failed: Connection refused", "refused"),
    ("nc-z", 1, 'nc: getaddrinfo for host "no-such-host.invalid" port 80: Name or service not known', "dns"),
    ("nc-z", 1, 'nc: getaddrinfo for host "db" port 80: Temporary failure in name resolution', "dns"),
    ("nc-z", 1, "nc: connect to 127.0.0.1 port 18082 (tcp) timed out: Operation now in progress", "timeout"),
    ("nc", 0, "", "open"),                                                                      # Debian busybox
    ("nc", 1, "nc: can't connect to remote host (127.0.0.1): Connection refused", "refused"),
    ("nc", 1, "nc: timed out", "timeout"),
    ("nc", 1, "nc: bad address 'no-such-host.invalid'", "dns"),
    ("nc", 124, "", "open"),     # connected; the peer kept the connection open until `timeout` ended nc
    ("nc", 143, "", "open"),     # the same under busybox timeout
    ("nc", 1, "", "error"),
    ("bash", 0, "", "open"),
    ("bash", 1, "reach: connect: Connection refused | reach: line 1: /dev/tcp/127.0.0.1/18081: Connection refused",
     "refused"),
    ("bash", 1, "reach: line 1: db: Name or service not known | reach: line 1: /dev/tcp/db/80: Invalid argument", "dns"),
    # OpenBSD nc, a name with an IPv6 and an IPv4 address: the last address tried decides.
    ("nc-z", 1, "nc: connect to 2001:db8::1 port 443 (tcp) failed: Network is unreachable | nc: connect to "
                "192.0.2.1 port 443 (tcp) timed out: Operation now in progress", "timeout"),
    ("nc-z", 1, "nc: connect to 2001:db8::1 port 443 (tcp) failed: Connection refused | nc: connect to "
                "192.0.2.1 port 443 (tcp) failed: No route to host", "unreachable"),
    # busybox before 1.30 wants `timeout -t SECS`: its usage text is not a verdict.
    ("nc", 1, "BusyBox v1.28.4 multi-call binary. | Usage: timeout [-t SECS] [-s SIG] PROG ARGS", "error"),
    ("bash", 124, "", "timeout"),
    ("none", 127, "this image has neither nc nor bash", "error"),
    ("nc-z", 2, "nc: something new", "error"),
]


@pytest.mark.parametrize("via, rc, text, outcome", CASES)
def test_classify(via, rc, text, outcome):
    verdict = probe.classify(OPEN, via, rc, text)
    assert verdict.outcome == outcome and outcome in probe.OUTCOMES
    assert verdict.raw == text
    if outcome == "error":
        assert verdict.detail


# UDP: (via, rc, text as the script prints it) -> outcome, and what the detail says. From OpenBSD nc 1.219 and
# bash 5.2 on loopback; busybox 1.36's nc -u lines are those its TCP path prints (nc_bloaty: the same code).
UDP = Target("127.0.0.1", 18053, "udp")
UDP_CASES = [
    ("nc-u", 0, "Connection to 127.0.0.1 18053 port [udp/*] succeeded!", "open", "open, or filtered"),   # OpenBSD
    ("nc-u", 0, "127.0.0.1 (127.0.0.1:18053) open", "open", "no ICMP port-unreachable"),                  # busybox
    ("nc-u", 1, "", "refused", "ICMP port unreachable"),            # both -v: silent on ECONNREFUSED
    ("nc-u", 1, "nc: 127.0.0.1 (127.0.0.1:18053): Connection refused", "refused", "nothing listens"),    # busybox -vv
    ("nc-u", 1, 'nc: getaddrinfo for host "no-such-host.invalid" port 53: Name or service not known', "dns", ""),
    ("nc-u", 1, "nc: bad address 'no-such-host.invalid'", "dns", ""),
    ("bash", 142, "datagram sent", "open", "open, or filtered"),    # read -t ran out: no answer, no ICMP error
    ("bash", 0, "datagram sent", "open", "a datagram came back"),
    ("bash", 1, "datagram sent | reach: line 2: read: read error: 0: Connection refused", "refused",
     "ICMP port unreachable"),
    ("bash", 124, "datagram sent", "timeout", "did not finish"),    # `timeout` ended it: never open
    ("bash", 143, "", "timeout", "did not finish"),                 # an address: no lookup to hang
    ("bash", 142, "", "error", "probe exited 142"),                 # no datagram went out: not silence
    ("bash", 1, "reach: line 1: no-such-host.invalid: Name or service not known | reach: line 1: "
                "/dev/udp/no-such-host.invalid/53: Invalid argument", "dns", ""),
    ("none", 127, "the image's nc has no -u, and the image has no bash", "error", "--image busybox:1.36"),
    ("nc-u", 2, "nc: something new", "error", "probe exited 2"),
]


@pytest.mark.parametrize("via, rc, text, outcome, says", UDP_CASES)
def test_classify_udp(via, rc, text, outcome, says):
    verdict = probe.classify(UDP, via, rc, text)
    assert (verdict.outcome, verdict.raw) == (outcome, text) and says in verdict.detail
    assert verdict.udp_silence == (verdict.detail == probe.UDP_OPEN)
    assert verdict.udp_silence or says != "open, or filtered"


@pytest.mark.parametrize("rc", [124, 143])
def test_udp_killed_before_the_datagram_went_out_is_a_lookup_that_hung(rc):
    """bash resolves the name before it sends: killed with no datagram out, the lookup hung (never `open`)."""
    verdict = probe.classify(Target("db.example", 53, "udp"), "bash", rc, "")
    assert verdict.outcome == "dns" and "no datagram was sent" in verdict.detail


# DNS, as the script prints it: glibc 2.36 getent, busybox 1.35 nslookup (the script's search walk), on a
# loopback DNS responder read through a resolv.conf with a pod's search domains.
DNS_CASES = [
    ("db", "getent", 0, "10.96.251.9     STREAM db.shop.svc.cluster.local", "open",
     "resolves to 10.96.251.9, as db.shop.svc.cluster.local", ("10.96.251.9",)),
    ("api.example.com", "getent", 0, "192.0.2.10      STREAM api.example.com | 192.0.2.11      STREAM", "open",
     "resolves to 192.0.2.10, 192.0.2.11", ("192.0.2.10", "192.0.2.11")),
    ("v6.example.com", "getent", 0, "2001:db8::5     STREAM v6.example.com", "open", "resolves to 2001:db8::5",
     ("2001:db8::5",)),
    ("localhost", "getent", 0, "127.0.0.1       localhost", "open", "resolves to 127.0.0.1", ("127.0.0.1",)),  # hosts
    ("nothere", "getent", 2, "", "dns", "does not resolve", ()),
    ("silent.example.com", "getent", 124, "", "dns", "no answer from the pod's resolver within --timeout", ()),
    ("web-0", "hosts", 0, "10.244.0.9 web-0", "open", "resolves to 10.244.0.9, from /etc/hosts", ("10.244.0.9",)),
    ("db", "nslookup", 0, "tried: db.shop.svc.cluster.local. | Name:\tdb.shop.svc.cluster.local | Address: 10.96.251.9",
     "open", "resolves to 10.96.251.9, as db.shop.svc.cluster.local", ("10.96.251.9",)),
    ("api.example.com", "nslookup", 0, "tried: api.example.com.shop.svc.cluster.local. api.example.com.svc.cluster.local."
     " api.example.com.cluster.local. api.example.com. | Name:\tapi.example.com | Address: 192.0.2.10 | "
     "Name:\tapi.example.com | Address: 192.0.2.11", "open", "resolves to 192.0.2.10, 192.0.2.11",
     ("192.0.2.10", "192.0.2.11")),
    ("nothere", "nslookup", 1, "tried: nothere.shop.svc.cluster.local. nothere.svc.cluster.local. nothere.cluster.local."
     " nothere. | ** server can't find nothere.: NXDOMAIN | ** server can't find nothere.: NXDOMAIN", "dns",
     "no such name (NXDOMAIN) (tried nothere.shop.svc.cluster.local, nothere.svc.cluster.local, "
     "nothere.cluster.local, nothere)", ()),
    ("empty.example.com", "nslookup", 0, "tried: empty.example.com.", "dns", "the name has no address record", ()),
    ("empty.example.com", "nslookup", 0, "tried: empty.example.com. | *** Can't find empty.example.com.: No answer",
     "dns", "the name has no address record", ()),   # no reply to one of the two questions (busybox's source)
    ("silent.example.com", "nslookup", 1, "tried: silent.example.com. | ;; connection timed out; no servers could be "
     "reached", "dns", "no answer from the pod's resolver", ()),
    ("silent.example.com", "nslookup", 143, "tried: silent.example.com. | nslookup: gave up after 1s", "dns",
     "within --timeout", ()),
    ("db", "none", 127, "this image has neither getent nor nslookup", "error", "--image nicolaka/netshoot:v0.13", ()),
    ("db", "getent", 3, "", "error", "probe exited 3", ()),
]


@pytest.mark.parametrize("name, via, rc, text, outcome, detail, addresses", DNS_CASES)
def test_classify_dns(name, via, rc, text, outcome, detail, addresses):
    verdict = probe.classify(Target(name, 0, "dns"), via, rc, text)
    assert (verdict.outcome, verdict.addresses) == (outcome, addresses)
    assert detail in verdict.detail, verdict.detail


# HTTP(S), as the script prints it: curl 7.88.1, busybox 1.35 wget, GNU wget 1.21.3, openssl 3.0 on loopback:
# python's http.server, a closed port, a port that drops SYNs, a TLS server with a self-signed certificate.
CERT = "*  subject: CN=localhost | *  expire date: Dec 22 16:41:56 2026 GMT | *  issuer: CN=localhost"
HTTP_CASES = [
    ("http://127.0.0.1:18080/", "curl", 0, "< HTTP/1.0 200 OK", False, "open", 200, "HTTP 200"),
    ("http://127.0.0.1:18080/missing", "curl", 0, "< HTTP/1.0 404 Not Found", False, "open", 404, "HTTP 404"),
    ("http://127.0.0.1:18080/moved", "curl", 0, "< HTTP/1.0 301 Moved Permanently", False, "open", 301, "HTTP 301"),
    ("http://127.0.0.1:18081/", "curl", 7, "* connect to 127.0.0.1 port 18081 failed: Connection refused | curl: (7) "
     "Failed to connect to 127.0.0.1 port 18081 after 0 ms: Couldn't connect to server", False, "refused", None, ""),
    ("http://no-such-host.invalid/", "curl", 6, "curl: (6) Could not resolve host: no-such-host.invalid", False, "dns",
     None, ""),
    ("http://127.0.0.1:18082/", "curl", 28, "curl: (28) Connection timed out after 1001 milliseconds", False, "timeout",
     None, "no HTTP answer within --timeout"),
    ("https://127.0.0.1:18443/", "curl", 60, "curl: (60) SSL certificate problem: self-signed certificate | "
     "with --insecure: | " + CERT + " | *  SSL certificate verify result: self-signed certificate (18), continuing "
     "anyway. | < HTTP/1.0 200 OK", False, "tls", None,   # the problem is the verifying run's, not the -k run's
     "certificate not trusted: self-signed certificate; subject CN=localhost; expires Dec 22 16:41:56 2026 GMT; "
     "without verification the server answers HTTP 200 (--insecure skips the check)"),
    # curl 7.88.1 against a certificate of the test CA for another name (the CA in the bundle)
    ("https://127.0.0.1:8442/", "curl", 60, "*  subject: CN=other.example | *  expire date: Dec  2 17:34:21 2026 GMT | "
     "curl: (60) SSL: no alternative certificate subject name matches target host name '127.0.0.1' | with --insecure: | "
     "*  subject: CN=other.example | *  expire date: Dec  2 17:34:21 2026 GMT | *  issuer: CN=Reach Test CA | "
     "< HTTP/1.0 200 OK", False, "tls", None, "certificate not trusted: no alternative certificate subject name "
     "matches target host name '127.0.0.1'; subject CN=other.example"),
    ("https://127.0.0.1:8444/", "curl", 60, "curl: (60) SSL certificate problem: certificate has expired | with "
     "--insecure: | *  subject: CN=localhost | *  expire date: Jan  1 00:00:00 2025 GMT | *  issuer: CN=Reach Test CA | "
     "*  SSL certificate verify result: unable to get local issuer certificate (20), continuing anyway. | < HTTP/1.0 "
     "200 OK", False, "tls", None, "certificate not trusted: certificate has expired; subject CN=localhost"),
    ("https://127.0.0.1:18443/", "curl", 0, CERT + " | *  SSL certificate verify result: self-signed certificate (18), "
     "continuing anyway. | < HTTP/1.0 200 OK", True, "open", 200,
     "HTTP 200; certificate not checked (--insecure); subject CN=localhost"),
    # curl -k loads no CA bundle: a good certificate's "verify result" under --insecure blames nothing
    ("https://127.0.0.1:8441/", "curl", 0, "*  subject: CN=localhost | *  expire date: Dec  2 17:34:21 2026 GMT | "
     "*  issuer: CN=Reach Test CA | *  SSL certificate verify result: unable to get local issuer certificate (20), "
     "continuing anyway. | < HTTP/1.0 200 OK", True, "open", 200, "HTTP 200; certificate not checked (--insecure); "
     "subject CN=localhost"),
    ("https://localhost:18443/", "curl", 0, CERT + " | *  SSL certificate verify ok. | < HTTP/1.0 200 OK", False,
     "open", 200, "HTTP 200; certificate verified; subject CN=localhost; expires Dec 22 16:41:56 2026 GMT"),
    ("https://127.0.0.1:18080/", "curl", 35, "curl: (35) OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version "
     "number", False, "tls", None, "TLS handshake failed (the port does not speak TLS: plain http://?)"),
    ("http://127.0.0.1:18080/", "wget", 0, "Connecting to 127.0.0.1:18080 (127.0.0.1:18080) |   HTTP/1.0 200 OK",
     False, "open", 200, "HTTP 200"),
    ("http://127.0.0.1:18080/missing", "wget", 1, "Connecting to 127.0.0.1:18080 (127.0.0.1:18080) |   HTTP/1.0 404 "
     "File not found | wget: server returned error: HTTP/1.0 404 File not found", False, "open", 404, "HTTP 404"),
    ("http://127.0.0.1:18080/moved", "wget", 0, "Connecting to 127.0.0.1:18080 (127.0.0.1:18080) |   HTTP/1.0 301 "
     "Moved Permanently |   HTTP/1.0 200 OK", False, "open", 301, "HTTP 301, then 200 (wget follows redirects)"),
    ("http://127.0.0.1:18081/", "wget", 1, "Connecting to 127.0.0.1:18081 (127.0.0.1:18081) | wget: can't connect to "
     "remote host (127.0.0.1): Connection refused", False, "refused", None, ""),
    ("http://no-such-host.invalid/", "wget", 1, "wget: bad address 'no-such-host.invalid'", False, "dns", None, ""),
    ("http://127.0.0.1:18082/", "wget", 143, "Connecting to 127.0.0.1:18082 (127.0.0.1:18082)", False, "timeout", None,
     "no HTTP answer within --timeout"),
    ("https://127.0.0.1:18444/", "wget", 0, "Connecting to 127.0.0.1:18444 (127.0.0.1:18444) | wget: note: TLS "
     "certificate validation not implemented |   HTTP/1.0 200 OK", False, "open", 200,
     "HTTP 200; certificate not verified: busybox wget cannot verify certificates (curl can: --image "
     "nicolaka/netshoot:v0.13)"),
    ("https://127.0.0.1:18443/", "wget", 1, "Connecting to 127.0.0.1:18443 (127.0.0.1:18443) | wget: note: TLS "
     "certificate validation not implemented | wget: TLS error from peer (alert code 40): handshake failure | wget: "
     "error getting response: Connection reset by peer", False, "error", None,
     "the port answers TLS, but busybox wget's own TLS could not finish the handshake"),
    ("https://127.0.0.1:18080/", "wget", 1, "Connecting to 127.0.0.1:18080 (127.0.0.1:18080) | wget: note: TLS "
     "certificate validation not implemented | wget: got bad TLS record (len:369) while expecting handshake record | "
     "wget: error getting response: Connection reset by peer", False, "tls",
     None, "TLS handshake failed (the port does not speak TLS: plain http://?): wget: got bad TLS record"),
    # busybox 1.35 wget with openssl 3.0 in the image: openssl s_client (SNI, -verify_hostname/-verify_ip) checks the
    # certificate, and wget fetches with --no-check-certificate; wget's own openssl run prints nothing (rc 1 or 141)
    ("https://127.0.0.1:18443/", "wget", 1, "Connecting to 127.0.0.1:18443 (127.0.0.1:18443) | wget: error getting "
     "response: Connection reset by peer | openssl: | subject=CN = localhost | notAfter=Dec 22 16:41:56 2026 GMT | "
     "issuer=CN = localhost | Verify return code: 18 (self-signed certificate)", False,
     "tls", None, "certificate not trusted: self-signed certificate (openssl's check); subject CN = localhost"),
    ("https://localhost:8444/", "wget", 141, "Connecting to localhost:8444 (127.0.0.1:8444) | openssl: | subject=CN = "
     "localhost | notAfter=Jan  1 00:00:00 2025 GMT | issuer=CN = Reach Test CA | Verify return code: 10 (certificate "
     "has expired)", False, "tls", None, "certificate not trusted: certificate has expired (openssl's check)"),
    ("https://localhost:8443/", "wget", 0, "Connecting to localhost:8443 (127.0.0.1:8443) |   HTTP/1.0 200 OK | "
     "openssl: | subject=CN = localhost | notAfter=Nov 24 17:34:21 2026 GMT | issuer=CN = localhost | Verify return "
     "code: 18 (self-signed certificate)", False, "tls", None, "certificate not trusted: self-signed certificate "
     "(openssl's check); subject CN = localhost; expires Nov 24 17:34:21 2026 GMT; without verification the server "
     "answers HTTP 200 (--insecure skips the check)"),
    ("https://localhost:8442/", "wget", 0, "Connecting to localhost:8442 (127.0.0.1:8442) |   HTTP/1.0 200 OK | "
     "openssl: | subject=CN = other.example | notAfter=Dec  2 17:34:21 2026 GMT | issuer=CN = Reach Test CA | Verify "
     "return code: 62 (hostname mismatch)", False, "tls", None, "certificate not trusted: hostname mismatch (openssl's "
     "check); subject CN = other.example"),
    ("https://127.0.0.1:8442/", "wget", 0, "Connecting to 127.0.0.1:8442 (127.0.0.1:8442) |   HTTP/1.0 200 OK | "
     "openssl: | subject=CN = other.example | notAfter=Dec  2 17:34:21 2026 GMT | issuer=CN = Reach Test CA | Verify "
     "return code: 64 (IP address mismatch)", True, "open", 200, "HTTP 200; certificate not verified: IP address "
     "mismatch (openssl's check)"),
    ("https://localhost:18443/", "wget", 0, "Connecting to localhost:18443 (127.0.0.1:18443) |   HTTP/1.0 200 OK | "
     "openssl: | subject=CN = localhost | notAfter=Dec 22 16:41:56 2026 GMT | issuer=CN = localhost | Verify return "
     "code: 0 (ok)", False, "open", 200, "HTTP 200; certificate verified (checked by openssl s_client; busybox wget "
     "fetched without its own check); subject CN = localhost; expires Dec 22 16:41:56 2026 GMT"),
    # s_client says "0 (ok)" with no certificate at all: plain HTTP on the port
    ("https://localhost:8080/", "wget", 1, "Connecting to localhost:8080 (127.0.0.1:8080) | wget: error getting "
     "response: Connection reset by peer | openssl: | 401758DEA17F0000:error:0A00010B:SSL routines:ssl3_get_record:"
     "wrong version number:../ssl/record/ssl3_record.c:350: | Verify return code: 0 (ok)", False, "tls", None,
     "TLS handshake failed (the port does not speak TLS: plain http://?): openssl: wrong version number"),
    ("https://127.0.0.1:8449/", "wget", 1, "Connecting to 127.0.0.1:8449 (127.0.0.1:8449) | wget: error getting "
     "response: Connection reset by peer | openssl: | 409783DFC17F0000:error:8000006F:system library:BIO_connect:"
     "Connection refused:../crypto/bio/bio_sock2.c:117:calling connect() | connect:errno=111", False, "refused", None,
     ""),
    ("https://localhost:9000/", "wget", 143, "openssl: | openssl: no TLS answer within 2s", False, "timeout", None,
     "no HTTP answer within --timeout"),
    ("http://127.0.0.1:18080/", "gnu-wget", 0, "Connecting to 127.0.0.1:18480... connected. |   HTTP/1.0 200 OK",
     False, "open", 200, "HTTP 200"),
    ("http://127.0.0.1:18080/missing", "gnu-wget", 8, "Connecting to 127.0.0.1:18480... connected. |   HTTP/1.0 404 "
     "Not Found", False, "open", 404, "HTTP 404"),
    ("http://127.0.0.1:18081/", "gnu-wget", 4, "Connecting to 127.0.0.1:18481... failed: Connection refused.", False,
     "refused", None, ""),
    ("http://no-such-host.invalid/", "gnu-wget", 4, "Resolving no-such-host.invalid (no-such-host.invalid)... failed: "
     "Name or service not known. | wget: unable to resolve host address ‘no-such-host.invalid’", False, "dns", None, ""),
    ("https://127.0.0.1:18443/", "gnu-wget", 5, "Connecting to 127.0.0.1:18443... connected. | ERROR: The certificate "
     "of ‘127.0.0.1’ is not trusted. | ERROR: The certificate of ‘127.0.0.1’ doesn't have a known issuer.", False,
     "tls", None, "certificate not trusted: The certificate of ‘127.0.0.1’ doesn't have a known issuer."),
    # GNU wget 1.21.3 (GnuTLS): a wrong name and a port without TLS say so without ERROR:
    ("https://localhost:8442/", "gnu-wget", 5, "Resolving localhost (localhost)... 127.0.0.1 | Connecting to localhost "
     "(localhost)|127.0.0.1|:8442... connected. | The certificate's owner does not match hostname 'localhost'", False,
     "tls", None, "certificate not trusted: The certificate's owner does not match hostname 'localhost'"),
    ("https://localhost:8080/", "gnu-wget", 4, "Connecting to localhost (localhost)|127.0.0.1|:8080... connected. | "
     "GnuTLS: An unexpected TLS packet was received. | Unable to establish SSL connection.", False, "tls", None,
     "TLS handshake failed (the port does not speak TLS: plain http://?): Unable to establish SSL connection."),
    ("https://localhost:8441/", "gnu-wget", 0, "Connecting to localhost (localhost)|127.0.0.1|:8441... connected. |   "
     "HTTP/1.0 200 OK", False, "open", 200, "HTTP 200; certificate verified"),
    ("https://localhost:8441/missing", "gnu-wget", 8, "Connecting to localhost (localhost)|127.0.0.1|:8441... "
     "connected. |   HTTP/1.0 404 Not Found", False, "open", 404, "HTTP 404; certificate verified"),
    ("https://127.0.0.1:18443/", "gnu-wget", 0, "Connecting to 127.0.0.1:18443... connected. | WARNING: The certificate "
     "of ‘127.0.0.1’ is not trusted. | WARNING: The certificate of ‘127.0.0.1’ doesn't have a known issuer. |   "
     "HTTP/1.0 200 OK", True, "open", 200, "HTTP 200; certificate not verified: The certificate of ‘127.0.0.1’ doesn't "
     "have a known issuer."),   # GNU wget still checks under --no-check-certificate, and warns
    ("http://127.0.0.1:18080/", "gnu-wget", 124, "Connecting to 127.0.0.1:18082...", False, "timeout", None,
     "no HTTP answer within --timeout"),
    ("http://web/", "none", 127, "this image has neither curl nor wget", False, "error",
     None, "the probe image has neither curl nor wget: use --image nicolaka/netshoot:v0.13"),
    ("http://web/", "curl", 52, "curl: (52) Empty reply from server", False, "error", None,
     "connected, but the server closed the connection without an HTTP answer"),
]


@pytest.mark.parametrize("url, via, rc, text, insecure, outcome, status, detail", HTTP_CASES)
def test_classify_http(url, via, rc, text, insecure, outcome, status, detail):
    verdict = probe.classify(parse_target(url), via, rc, text, insecure)
    assert (verdict.outcome, verdict.http_status) == (outcome, status), verdict.detail
    assert detail in verdict.detail, verdict.detail
    if verdict.certificate and verdict.certificate.verified is False:
        assert "verified" not in verdict.detail.replace("not verified", "")   # never claims what was not checked


def test_the_certificate_as_data():
    cert = probe.classify(parse_target("https://localhost:18443/"), "curl", 0,
                          CERT + " | *  SSL certificate verify ok. | < HTTP/1.0 200 OK").certificate
    assert cert == probe.Certificate("CN=localhost", "CN=localhost", "Dec 22 16:41:56 2026 GMT", True, "")
    unchecked = probe.classify(parse_target("https://web/"), "wget", 0, "  HTTP/1.1 200 OK", True).certificate
    assert (unchecked.verified, unchecked.problem) == (False, "not checked (--insecure)")


def test_openssl_ok_without_a_certificate_is_not_a_verification():
    """s_client prints `Verify return code: 0 (ok)` when it got no certificate at all (no TLS there)."""
    verdict = probe.classify(parse_target("https://localhost:8080/"), "wget", 0, "  HTTP/1.0 200 OK | openssl: | "
                             "40271940E77F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number | "
                             "Verify return code: 0 (ok)")
    assert verdict.certificate.verified is False and "verified" not in verdict.detail.replace("not verified", "")


def test_parse_log_reads_one_line_per_target():
    lines = ["reach[1] tcp 127.0.0.1 18080 rc=0 nc-z: 127.0.0.1 (127.0.0.1:18080) open | ",
             "reach[2] tcp 127.0.0.1 18081 rc=1 nc-z: ",
             "reach[3] tcp no-such-host.invalid 80 rc=1 nc-z: nc: bad address 'no-such-host.invalid' | ",
             "reach[done] 3"]
    log = probe.parse_log([OPEN, CLOSED, DNS], lines)
    assert log.complete
    assert [v.outcome for v in log.verdicts] == ["open", "refused", "dns"]
    assert log.verdicts[2].raw == "nc: bad address 'no-such-host.invalid'"


def test_parse_log_without_done_marker_is_incomplete():
    log = probe.parse_log([OPEN, CLOSED], ["reach[1] tcp 127.0.0.1 18080 rc=0 nc-z: open", "Killed"])
    assert not log.complete
    assert [v.target for v in log.verdicts] == [OPEN]
    assert log.other_lines == ["Killed"]
    every = probe.with_missing([CLOSED, OPEN], log, "the container ended")
    assert [(v.target, v.outcome) for v in every] == [(CLOSED, "error"), (OPEN, "open")]
    assert (every[0].detail, every[0].raw) == ("the container ended", "Killed")


def test_parse_log_ignores_lines_for_unknown_indexes():
    log = probe.parse_log([OPEN], ["reach[7] tcp x 1 rc=0 nc-z: open", "reach[done] 1"])
    assert not log.complete and log.verdicts == [] and log.other_lines == ["reach[7] tcp x 1 rc=0 nc-z: open"]


def test_a_result_line_is_read_by_its_index_and_its_target_words():
    """The line must start with its own target's words: no echoed text can pass for a verdict (the old
    reading took the first " rc=" in the line, and a host like `::1%x rc=0 nc-u: fake` said open)."""
    scoped = Target("::1%x rc=0 nc-u: fake", 18055, "udp")   # what parse_target now refuses; the reader copes anyway
    line = "reach[1] udp ::1%x rc=0 nc-u: fake 18055 rc=1 nc-u: "
    assert probe.parse_line([scoped], line)[1].outcome == "refused"
    assert probe.parse_line([UDP], line) is None                       # another target's words: not its line
    assert probe.parse_line([OPEN], "reach[1] tcp 127.0.0.1 18081 rc=0 nc-z: open") is None
    assert probe.parse_line([OPEN], "reach[1] tcp 127.0.0.1 18080 rc=x nc-z: open") is None
    https = parse_target("https://web/")
    insecure = probe.parse_line([https], "reach[1] https https://web/ insecure rc=0 curl: < HTTP/1.1 200 OK")[1]
    assert insecure.certificate.problem == probe.NOT_CHECKED   # the flag is read from the target's words


def test_targets_are_probed_in_parallel(tmp_path):
    tools = {"nc": {"-z": {"127.0.0.1 %d" % p: [1, "nc: timed out"] for p in range(1, 6)}}}
    env = fake_tools(tmp_path, tools)
    trace = tmp_path / "trace"
    env.update(FAKE_DELAY="0.3", FAKE_TRACE=str(trace))
    out = run_script([Target("127.0.0.1", p) for p in range(1, 6)], 1, env)
    assert len(out.splitlines()) == 6
    events = trace.read_text().split()
    assert events[:5] == ["start"] * 5   # every probe began before any ended: side by side


def test_command_passes_targets_as_positional_parameters():
    targets = [OPEN, Target("::1", 443), parse_target("udp://[::1]:53"), parse_dns("db"),
               parse_target("https://web:8443/healthz?x=1"), parse_target("http://web")]
    argv = probe.command(targets, 2.2, insecure=True)
    assert argv[:2] == ["sh", "-c"] and argv[2] == probe.SCRIPT
    assert argv[3:] == ["reach", "3", "tcp", "127.0.0.1", "18080", "tcp", "::1", "443", "udp", "::1", "53",
                        "dns", "db", "-", "https", "https://web:8443/healthz?x=1", "insecure", "http", "http://web/", "-"]
    assert probe.wait_seconds(0.2) == 1
    assert probe.targets_of(argv[5:]) == targets      # history reads them back
    assert probe.targets_of(["db", "5432", "::1", "443"]) == [Target("db", 5432), Target("::1", 443)]   # older ones
    assert probe.targets_of(["tcp", "db"]) is None and probe.targets_of(["db", "x"]) is None


def test_parse_line_reads_the_kind_and_the_insecure_flag():
    https = parse_target("https://127.0.0.1:18443/")
    line = ("reach[1] https https://127.0.0.1:18443/ insecure rc=0 curl: " + CERT +
            " | *  SSL certificate verify result: self-signed certificate (18), continuing anyway. | < HTTP/1.0 200 OK | ")
    index, verdict = probe.parse_line([https], line)
    assert (index, verdict.outcome, verdict.http_status, verdict.via) == (0, "open", 200, "curl")
    assert verdict.certificate.verified is False and "not checked (--insecure)" in verdict.detail
    assert probe.parse_line([UDP], "reach[1] udp 127.0.0.1 18053 rc=1 nc-u:  | ")[1].outcome == "refused"


# -- the script, run for real ---------------------------------------------------------------

def fake_tools(tmp_path, tools, with_timeout=True, base=False):
    """Stand-ins for the tools (fixtures/fakes/tool), with this machine's `timeout`; with base, also the
    rest of BASE (mkdir, cat, ...: the script then reads tools' output from files, as in an image)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(parents=True)
    for tool in tools:
        os.symlink(os.path.join(ROOT, "fixtures", "fakes", "tool"), bindir / tool)
    for name in BASE if base else ("timeout",) if with_timeout else ():
        if shutil.which(name) and not (bindir / name).exists():
            os.symlink(shutil.which(name), bindir / name)
    return {"PATH": "%s:%s" % (bindir, os.path.dirname(sys.executable)), "FAKE_TOOLS": json.dumps(tools),
            "TMPDIR": str(tmp_path)}


def run_script(targets, timeout, env, shell=("sh",)):
    argv = probe.command(targets, timeout)
    out = subprocess.run([shutil.which(shell[0])] + list(shell[1:]) + argv[1:], env=env, capture_output=True,
                         text=True, timeout=30)
    return out.stdout


def test_script_never_runs_what_a_host_name_holds(tmp_path):
    marker = tmp_path / "pwned"
    hosts = ["$(touch %s)" % marker, "`touch %s`" % marker, ";touch %s" % marker, "*", "-e"]
    nc = {"nc": {"-z": {"%s 80" % h: [0, "open"] for h in hosts}}}
    env = fake_tools(tmp_path, nc)
    out = run_script([Target(h, 80) for h in hosts], 1, env)
    assert not marker.exists()
    log = probe.parse_log([Target(h, 80) for h in hosts], out.splitlines())
    assert log.complete and [v.target.host for v in log.verdicts] == hosts
    printed = sorted(line.split(" ")[:3] for line in out.splitlines() if not line.startswith("reach[done]"))
    assert [host for _, _, host in printed][:4] == [h.split(" ")[0] for h in hosts[:4]]
    assert out.splitlines()[-1] == "reach[done] 5"


def test_script_never_runs_what_a_url_holds(tmp_path):
    """A path may hold $ ( ) ; & ' and the like (they are URL characters): they reach curl as one argument."""
    marker = tmp_path / "pwned"
    urls = ["http://web/$(touch$IFS%s)" % marker, "http://web/;touch$IFS%s" % marker,
            "http://web/'&&touch$IFS%s&&'" % marker, "https://web/?a=$(touch$IFS%s)" % marker]
    targets = [parse_target(u) for u in urls]
    curl = {"curl": {"plain": {str(t): [0, "< HTTP/1.1 200 OK"] for t in targets}}}
    log = probe.parse_log(targets, run_script(targets, 1, fake_tools(tmp_path, curl)).splitlines())
    assert not marker.exists()
    assert log.complete and [(v.outcome, v.http_status) for v in log.verdicts] == [("open", 200)] * 4


def test_script_consumes_every_parameter_and_never_exits():
    """A reuse agent runs the script between its own head (k=$1; shift) and an idle loop."""
    def bare_sh(script, *args):   # no tools at all
        return subprocess.run([shutil.which("sh"), "-c", script, "reach"] + list(args), env={"PATH": "/nonexistent"},
                              capture_output=True, text=True, timeout=30).stdout.splitlines()
    tail = 'printf "after k=%s w=%s left=%s\\n" "$k" "$w" "$#"\n'
    assert bare_sh(probe.SCRIPT + tail, "3")[-1] == "after k= w=3 left=0"
    assert bare_sh("k=$1; shift\n" + probe.SCRIPT + tail, "600", "3")[-1] == "after k=600 w=3 left=0"
    assert bare_sh(probe.SCRIPT + tail, "3", "unknown", "a", "b", "tcp", "x")[-1] == "after k= w=3 left=0"
    assert bare_sh(probe.SCRIPT, "3", "sctp", "db", "9") == ["reach[1] sctp db 9 rc=2 none: no probe for sctp | ",
                                                              "reach[done] 1"]


def test_script_without_nc_or_bash_says_so(tmp_path):
    env = fake_tools(tmp_path, {}, with_timeout=False)
    log = probe.parse_log([OPEN], run_script([OPEN], 1, env).splitlines())
    assert log.complete and log.verdicts[0].outcome == "error"
    assert "--image busybox:1.36" in log.verdicts[0].detail


def test_script_falls_back_when_nc_has_no_z(tmp_path):
    tools = {"nc": {"invalid": [1, "nc: invalid option -- 'z'\nBusyBox v1.35.0 multi-call binary."],
                    "plain": {"127.0.0.1 18080": [0, ""], "127.0.0.1 18081": [1, "nc: can't connect to remote host "
                                                                               "(127.0.0.1): Connection refused"]}}}
    out = run_script([OPEN, CLOSED], 1, fake_tools(tmp_path, tools))
    log = probe.parse_log([OPEN, CLOSED], out.splitlines())
    assert [(v.outcome, v.via) for v in log.verdicts] == [("open", "nc"), ("refused", "nc")]


# -- against real nc builds on loopback, where the machine has them ------------------------

@pytest.fixture
def loopback():
    """An open port, a closed port and a port that drops SYNs (a full accept queue)."""
    opened = listening_socket()
    refused = closed_port()
    sink = listening_socket(backlog=0)
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(sink.getsockname())
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.05)
    yield (Target("127.0.0.1", opened.getsockname()[1]), Target("127.0.0.1", refused),
           Target("127.0.0.1", sink.getsockname()[1]))
    for s in [opened, sink] + fillers:
        s.close()


def real_nc_env(tmp_path, nc_path, shell_tools=()):
    bindir = tmp_path / "realbin"
    bindir.mkdir()
    os.symlink(nc_path, bindir / "nc")
    for tool in ("timeout",) + tuple(shell_tools):
        os.symlink(shutil.which(tool), bindir / tool)
    return {"PATH": str(bindir), "TMPDIR": str(tmp_path)}


BUSYBOX = shutil.which("busybox")
OPENBSD_NC = next((p for p in ("/bin/nc.openbsd", "/usr/bin/nc.openbsd") if os.path.exists(p)), None)


@pytest.mark.skipif(not BUSYBOX, reason="no busybox on this machine (apt-get install busybox)")
def test_real_debian_busybox_nc(tmp_path, loopback):
    opened, closed, dropping = loopback
    env = real_nc_env(tmp_path, BUSYBOX)
    out = run_script([opened, closed, dropping], 1, env, shell=("busybox", "sh"))
    log = probe.parse_log([opened, closed, dropping], out.splitlines())
    assert log.complete, out
    assert [v.outcome for v in log.verdicts] == ["open", "refused", "timeout"], out


@pytest.mark.skipif(not OPENBSD_NC, reason="no OpenBSD nc on this machine (apt-get install netcat-openbsd)")
def test_real_openbsd_nc(tmp_path, loopback):
    opened, closed, dropping = loopback
    env = real_nc_env(tmp_path, OPENBSD_NC)
    out = run_script([opened, closed, dropping, Target("::1", closed.port)], 1, env)
    log = probe.parse_log([opened, closed, dropping, Target("::1", closed.port)], out.splitlines())
    assert [v.outcome for v in log.verdicts][:3] == ["open", "refused", "timeout"], out
    assert log.verdicts[3].outcome in ("refused", "unreachable")  # no IPv6 loopback in some sandboxes


@pytest.mark.skipif(not shutil.which("bash"), reason="no bash")
def test_real_bash_dev_tcp(tmp_path, loopback):
    opened, closed, dropping = loopback
    bindir = tmp_path / "bashbin"
    bindir.mkdir()
    for tool in ("bash", "timeout"):
        os.symlink(shutil.which(tool), bindir / tool)
    out = run_script([opened, closed, dropping], 1, {"PATH": str(bindir), "TMPDIR": str(tmp_path)},
                     shell=(shutil.which("sh"),))
    log = probe.parse_log([opened, closed, dropping], out.splitlines())
    assert [(v.outcome, v.via) for v in log.verdicts] == [("open", "bash"), ("refused", "bash"), ("timeout", "bash")]


# -- the new probes with stand-in tools: the fallbacks --------------------------------------

def test_udp_falls_back_to_bash_when_nc_has_no_u(tmp_path):
    usage = "nc: invalid option -- 'u'\nBusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary."
    tools = {"nc": {"invalid": [1, usage]},
             "bash": {"udp": {"127.0.0.1 18053": [142, "datagram sent"],
                              "127.0.0.1 18081": [1, "datagram sent\nreach: line 2: read: read error: 0: Connection "
                                                     "refused"]}}}
    targets = [UDP, Target("127.0.0.1", 18081, "udp")]
    log = probe.parse_log(targets, run_script(targets, 1, fake_tools(tmp_path, tools)).splitlines())
    assert [(v.outcome, v.via) for v in log.verdicts] == [("open", "bash"), ("refused", "bash")]
    assert log.verdicts[0].detail == probe.UDP_OPEN


def test_udp_through_bash_is_open_only_once_the_datagram_went_out(tmp_path):
    """A bash killed by the outer `timeout` before it printed UDP_SENT was still resolving the name."""
    tools = {"bash": {"udp": {"db.example 53": [0, ""]}}}   # answers after FAKE_DELAY: too late, killed first
    env = dict(fake_tools(tmp_path, tools), FAKE_DELAY="5")
    target = parse_target("udp://db.example:53")
    (verdict,) = probe.parse_log([target], run_script([target], 1, env).splitlines()).verdicts
    assert (verdict.outcome, verdict.via, verdict.rc) == ("dns", "bash", 124), verdict


def test_dns_takes_getent_hosts_when_getent_has_no_ahosts(tmp_path):
    tools = {"getent": {"ahosts": {"db": [1, "Unknown database: ahosts"]}, "hosts": {"db": [0, "10.96.251.9     db"]}}}
    log = probe.parse_log([parse_dns("db")], run_script([parse_dns("db")], 1, fake_tools(tmp_path, tools)).splitlines())
    assert (log.verdicts[0].outcome, log.verdicts[0].addresses) == ("open", ("10.96.251.9",))


def test_curl_asks_again_without_verification_to_tell_the_certificate(tmp_path):
    https = parse_target("https://127.0.0.1:18443/")
    tools = {"curl": {"plain": {str(https): [60, "curl: (60) SSL certificate problem: self-signed certificate"]},
                      "-k": {str(https): [0, CERT.replace(" | ", "\n") + "\n< HTTP/1.1 200 OK\r\n"]}}}
    out = run_script([https], 1, fake_tools(tmp_path, tools))
    (verdict,) = probe.parse_log([https], out.splitlines()).verdicts
    assert "\r" not in out and verdict.outcome == "tls" and verdict.certificate.subject == "CN=localhost"
    assert verdict.detail.endswith("without verification the server answers HTTP 200 (--insecure skips the check)")


def test_no_tool_for_a_probe_is_an_error_that_names_an_image(tmp_path):
    targets = [parse_target("udp://db:53"), parse_dns("db"), parse_target("https://web/")]
    log = probe.parse_log(targets, run_script(targets, 1, fake_tools(tmp_path, {}, with_timeout=False)).splitlines())
    assert [v.outcome for v in log.verdicts] == ["error"] * 3
    assert all("--image " in v.detail for v in log.verdicts)


@pytest.mark.parametrize("shell", [("sh",)] + ([(BUSYBOX, "sh")] if BUSYBOX else []))
def test_long_results_stay_whole_lines_side_by_side(tmp_path, shell):
    """busybox's printf writes a line longer than 4 KiB in 4096-byte pieces, and parallel jobs interleave
    them (a headless Service with many pods, long tool output, long URLs). A line keeps 20 of the tool's
    lines, about 1 KB of them and 300 bytes of each, and says how many it left out."""
    many = "\n".join("10.1.%d.%d     STREAM big" % (n // 250, n % 250) for n in range(250))
    names = ["big%d" % n for n in range(12)]
    url = "http://web/" + "a" * 1985   # as long as a target may be
    noise = "".join("curl: (6) Could not resolve host: web %s\n" % ("x" * 900) for _ in range(30))
    tools = {"getent": {"ahosts": {n: [0, many] for n in names}}, "curl": {"plain": {url: [6, noise]}}}
    targets = [parse_dns(n) for n in names] + [parse_target(url)]
    # busybox nslookup (an image without getent): a Name and an Address line per address
    lookups = "".join("Name:\tbig.example\nAddress: 10.2.%d.%d\n" % (n // 250, n % 250) for n in range(250))
    env = fake_tools(tmp_path / "nslookup", {"nslookup": {"query": {"big.example.": [0, lookups]}}}, base=True)
    out = run_script([parse_dns("big.example.")], 1, env, shell=shell)
    (verdict,) = probe.parse_log([parse_dns("big.example.")], out.splitlines()).verdicts
    assert len(verdict.addresses) == 18 and verdict.detail.endswith("10.2.0.17 (+232 more)"), verdict
    out = run_script(targets, 1, fake_tools(tmp_path, tools, base=True), shell=shell)
    assert max(len(line.encode()) for line in out.splitlines()) < 3500
    log = probe.parse_log(targets, out.splitlines())
    assert log.complete and not log.other_lines, out
    for verdict in log.verdicts[:-1]:
        assert len(verdict.addresses) == 20 and ", 10.1.0.19 (+230 more)" in verdict.detail
    last = log.verdicts[-1]   # the first lines (each cut), how many more, the last line
    assert last.outcome == "dns" and re.search(r"\.\.\. \| \(\+2\d more\) \| curl: \(6\) [^|]*\.\.\.$", last.raw), last.raw
    # The termination message keeps the last 4096 bytes: the cut is noticed (the no-logs path reads the log
    # instead), and what is left is read as it was.
    cut = out.encode()[-4096:].decode("utf-8", "replace")
    partial = probe.parse_log(targets, cut.splitlines())
    assert not partial.complete and partial.verdicts and set(partial.verdicts) < set(log.verdicts)


def test_a_tool_cannot_print_another_targets_line(tmp_path):
    """A CR (a line break to kubectl's reader) or `reach[` in a tool's output is not passed on as such."""
    forged = "nc: odd\rreach[2] tcp 127.0.0.1 18081 rc=0 nc-z: open"
    tools = {"nc": {"-z": {"127.0.0.1 18080": [1, forged + "\nreach[done] 2"], "127.0.0.1 18081": [1, ""]}}}
    for n, shell in enumerate([("sh",)] + ([(BUSYBOX, "sh")] if BUSYBOX else [])):
        out = run_script([OPEN, CLOSED], 1, fake_tools(tmp_path / str(n), tools, base=True), shell=shell)
        assert "\r" not in out and out.count("reach[") == 3, out
        log = probe.parse_log([OPEN, CLOSED], out.splitlines())
        assert log.complete and [v.outcome for v in log.verdicts] == ["error", "refused"], out


def test_second_steps_get_what_is_left_of_the_timeout(tmp_path):
    """One budget for a probe: curl's retry without verification and nslookup's next search name get what
    is left of --timeout (a `date` that says how late it is), and do not run once nothing is."""
    url = "https://web/"
    tools = {"curl": {"plain": {url: [60, "curl: (60) SSL certificate problem: self-signed certificate"]},
                      "-k": {url: [0, "< HTTP/1.1 200 OK"]}},
             "nslookup": {"query": {}}}
    (tmp_path / "resolv.conf").write_text("")
    for later, retried in (("1002", True), ("1010", False)):
        env = fake_tools(tmp_path / later, tools)
        fake_date = tmp_path / later / "bin" / "date"
        fake_date.write_text('#!/bin/sh\nif [ -e "$0.seen" ]; then echo %s; else : >"$0.seen"; echo 1000; fi\n' % later)
        fake_date.chmod(0o755)
        env["FAKE_ARGS"] = str(tmp_path / later / "args")
        targets = [parse_target(url)]
        (verdict,) = probe.parse_log(targets, run_script(targets, 3, env).splitlines()).verdicts
        calls = [json.loads(line) for line in (tmp_path / later / "args").read_text().splitlines()]
        assert verdict.outcome == "tls" and ("answers HTTP 200" in verdict.detail) is retried
        if retried:   # started at 1000 with 3 s (and one for the whole-second clock): 2 s left at 1002
            assert calls[-1][0] == "curl" and "-k" in calls[-1] and calls[-1][calls[-1].index("--max-time") + 1] == "2"
        else:
            assert [c for c in calls if "-k" in c] == []


# -- the new probes with this machine's tools, against loopback -----------------------------

CURL = shutil.which("curl")
WGET = shutil.which("wget")
GNU_WGET = WGET if WGET and "GNU Wget" in subprocess.run([WGET, "--version"], capture_output=True,
                                                          text=True).stdout else None
OPENSSL = shutil.which("openssl")


BASE = ("timeout", "setsid", "mkdir", "cat", "date", "rm")   # what images have besides the probe's tools


def tools_env(tmp_path, base="system", **tools):
    """PATH holding only these tools (name=path; a busybox path runs as the applet of that name), and
    BASE: this machine's (coreutils, util-linux) or, with base="busybox", busybox's applets, as in
    busybox:1.36. A tool given as None is left out."""
    bindir = tmp_path / "tools"
    bindir.mkdir(parents=True)
    common = {name: BUSYBOX if base == "busybox" else shutil.which(name) for name in BASE}
    for name, path in dict(common, **tools).items():
        if path:
            os.symlink(path, bindir / name)
    return {"PATH": str(bindir), "TMPDIR": str(tmp_path)}


class _Web(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _serve(server):
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


def _openssl(cwd, *args):
    subprocess.run([OPENSSL] + list(args), cwd=str(cwd), capture_output=True, check=True)


def _https(cert, key):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.set_ciphers("ALL:@SECLEVEL=0")   # every cipher on, as busybox's TLS knows few
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return _serve(server)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """http on loopback (200 on /, 404 elsewhere) and a closed port; where openssl can make certificates,
    https servers with a self-signed one (`https`), one of a test CA for localhost and 127.0.0.1 (`good`,
    `good-ip`) and one of that CA for another name (`other`), and `trust`: the environment that makes
    curl, openssl and GNU wget trust the test CA (what an image's CA bundle does). Their URLs."""
    plain = _serve(ThreadingHTTPServer(("127.0.0.1", 0), _Web))
    urls = {"ok": "http://127.0.0.1:%d/" % plain.server_port, "missing": "http://127.0.0.1:%d/missing" % plain.server_port,
            "refused": "http://127.0.0.1:%d/" % closed_port(), "not-tls": "https://127.0.0.1:%d/" % plain.server_port}
    servers = [plain]
    if OPENSSL:
        d = tmp_path_factory.mktemp("tls")
        _openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days",
                 "2", "-subj", "/CN=localhost")
        _openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                 "-subj", "/CN=Reach Test CA")
        for name, alt in (("good", "DNS:localhost,IP:127.0.0.1"), ("other", "DNS:other.example")):
            (d / (name + ".ext")).write_text("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                                             "extendedKeyUsage=serverAuth\n" % alt)
            _openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                     "-subj", "/CN=" + alt.split(",")[0][4:])
            _openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")
        servers += [_https(d / "cert.pem", d / "key.pem"), _https(d / "good.pem", d / "good.key"),
                    _https(d / "other.pem", d / "other.key")]
        urls.update(https="https://127.0.0.1:%d/" % servers[1].server_port,
                    good="https://localhost:%d/" % servers[2].server_port,
                    **{"good-ip": "https://127.0.0.1:%d/" % servers[2].server_port,
                       "other": "https://localhost:%d/" % servers[3].server_port})
        (d / "wgetrc").write_text("ca_certificate = %s\n" % (d / "ca.pem"))
        urls["trust"] = {"CURL_CA_BUNDLE": str(d / "ca.pem"), "SSL_CERT_FILE": str(d / "ca.pem"),
                         "WGETRC": str(d / "wgetrc")}
    yield urls
    for server in servers:
        server.shutdown()


def trusting(env, web):
    return dict(env, **web.get("trust", {}))


def run_real(env, urls, insecure=False, shell=("sh",)):
    targets = [parse_target(u) if "://" in u else parse_dns(u) for u in urls]
    argv = probe.command(targets, 1, insecure)
    out = subprocess.run([shutil.which(shell[0])] + list(shell[1:]) + argv[1:], env=env, capture_output=True,
                         text=True, timeout=30).stdout
    log = probe.parse_log(targets, out.splitlines())
    assert log.complete, out
    return log.verdicts


@pytest.mark.skipif(not CURL, reason="no curl on this machine")
def test_real_curl(tmp_path, web):
    urls = [web["ok"], web["missing"], web["refused"]]
    verdicts = run_real(tools_env(tmp_path, curl=CURL), urls)
    assert [(v.outcome, v.http_status) for v in verdicts] == [("open", 200), ("open", 404), ("refused", None)]
    if "https" not in web:
        return
    tls = [web["https"], web["good"], web["good-ip"], web["other"], web["not-tls"]]
    selfsigned, good, good_ip, other, plain = run_real(trusting(tools_env(tmp_path / "tls", curl=CURL), web), tls)
    assert selfsigned.outcome == "tls" and selfsigned.certificate.subject == "CN=localhost"
    assert selfsigned.certificate.problem == "self-signed certificate"   # the verifying run's, not the -k run's
    assert "answers HTTP 200" in selfsigned.detail
    assert [(v.outcome, v.certificate.verified) for v in (good, good_ip)] == [("open", True), ("open", True)]
    assert other.outcome == "tls" and other.certificate.problem.startswith(
        "no alternative certificate subject name matches target host name 'localhost'"), other
    assert "answers HTTP 200" in other.detail and other.certificate.issuer == "CN=Reach Test CA"
    assert plain.outcome == "tls" and "does not speak TLS" in plain.detail
    # --insecure: nothing checked, nothing blamed (curl -k's "verify result" is no check)
    insecure = run_real(trusting(tools_env(tmp_path / "insecure", curl=CURL), web), tls[:4], insecure=True)
    assert {(v.outcome, v.http_status, v.certificate.problem) for v in insecure} == {("open", 200, probe.NOT_CHECKED)}


@pytest.mark.skipif(not BUSYBOX, reason="no busybox on this machine (apt-get install busybox)")
def test_real_busybox_wget(tmp_path, web):
    urls = [web["ok"], web["missing"], web["refused"]] + ([web["https"]] if "https" in web else [])
    verdicts = run_real(tools_env(tmp_path, "busybox", wget=BUSYBOX), urls, shell=("busybox", "sh"))
    assert [(v.outcome, v.http_status, v.via) for v in verdicts][:3] == [
        ("open", 200, "wget"), ("open", 404, "wget"), ("refused", None, "wget")]
    if "https" in web:   # busybox's own TLS: it answers, and nothing checked the certificate
        assert (verdicts[3].outcome, verdicts[3].http_status) == ("open", 200)
        assert "certificate not verified: busybox wget cannot verify certificates" in verdicts[3].detail


@pytest.mark.skipif(not (BUSYBOX and OPENSSL), reason="needs busybox and openssl")
def test_real_busybox_wget_with_openssl(tmp_path, web):
    """openssl s_client (SNI, the name or the address checked) is the check; wget fetches unchecked. busybox
    wget's own openssl run fails on an address (-verify_ip IP:PORT) and says nothing of why it failed."""
    urls = [web["good"], web["good-ip"], web["other"], web["https"].replace("127.0.0.1", "localhost"), web["not-tls"],
            "https://127.0.0.1:%d/" % closed_port()]
    env = trusting(tools_env(tmp_path, "busybox", wget=BUSYBOX, openssl=OPENSSL), web)
    good, good_ip, other, selfsigned, plain, refused = run_real(env, urls, shell=("busybox", "sh"))
    for v in (good, good_ip):
        assert (v.outcome, v.http_status, v.certificate.verified) == ("open", 200, True), v
        assert "checked by openssl s_client" in v.detail
    assert other.outcome == "tls" and other.certificate.problem == "hostname mismatch (openssl's check)"
    assert other.detail.endswith("without verification the server answers HTTP 200 (--insecure skips the check)")
    assert selfsigned.outcome == "tls" and "self-signed certificate (openssl's check)" in selfsigned.detail
    assert plain.outcome == "tls" and "does not speak TLS" in plain.detail   # s_client's "0 (ok)" is no check
    assert refused.outcome == "refused"


@pytest.mark.skipif(not GNU_WGET, reason="no GNU wget on this machine")
def test_real_gnu_wget(tmp_path, web):
    urls = [web["ok"], web["missing"], web["refused"]]
    verdicts = run_real(tools_env(tmp_path, wget=GNU_WGET), urls)
    assert [(v.outcome, v.http_status, v.via) for v in verdicts] == [
        ("open", 200, "gnu-wget"), ("open", 404, "gnu-wget"), ("refused", None, "gnu-wget")]
    if "https" not in web:
        return
    urls = [web["https"], web["good"], web["other"], web["not-tls"]]
    selfsigned, good, other, plain = run_real(trusting(tools_env(tmp_path / "tls", wget=GNU_WGET), web), urls)
    assert selfsigned.outcome == "tls" and "not trusted" in selfsigned.detail
    assert (good.outcome, good.certificate.verified) == ("open", True), good
    assert other.outcome == "tls" and other.certificate.verified is False, other   # no ERROR: prefix on that one
    assert plain.outcome == "tls" and "Unable to establish SSL connection" in plain.detail


def _marked(mark):
    """Processes whose environment holds mark (a zombie's is empty: it is gone)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if mark in f.read().split(b"\0"):
                    found.append(int(pid))
        except (OSError, ValueError):
            pass
    return found


@pytest.mark.skipif(not BUSYBOX or not os.path.isdir("/proc"), reason="needs busybox and /proc")
@pytest.mark.parametrize("setsid", [True, False])
def test_busybox_wget_on_a_port_that_never_answers_ends_within_the_timeout(tmp_path, setsid):
    """busybox wget does TLS in a forked child that busybox `timeout` does not kill. The probe reads the
    tool's output from a file (no pipe for that child to hold open), and kills its session where setsid is."""
    sink = listening_socket()   # accepts (the kernel does), never answers
    mark = "REACH_TEST_MARK=%s-%s" % (os.getpid(), setsid)
    targets = [parse_target("https://127.0.0.1:%d/" % sink.getsockname()[1])]
    env = dict(tools_env(tmp_path, "busybox", wget=BUSYBOX, **({} if setsid else {"setsid": None})),
               REACH_TEST_MARK=mark.split("=", 1)[1])
    try:
        out = subprocess.run([BUSYBOX, "sh"] + probe.command(targets, 1)[1:], env=env, capture_output=True,
                             text=True, timeout=20).stdout   # before the fix: for ever
        (verdict,) = probe.parse_log(targets, out.splitlines()).verdicts
        assert verdict.outcome == "timeout", out
        if setsid:
            assert _marked(mark.encode()) == []   # the TLS child went with its session
    finally:
        sink.close()   # frees a child left without setsid


@pytest.fixture
def udp_ports():
    """A UDP port that takes datagrams silently, one that answers each, and a closed one."""
    silent, echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (silent, echo):
        s.bind(("127.0.0.1", 0))
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    closed_number = closed.getsockname()[1]
    closed.close()

    def answer():
        try:
            while True:
                data, peer = echo.recvfrom(64)
                echo.sendto(data, peer)
        except OSError:
            pass
    threading.Thread(target=answer, daemon=True).start()
    yield ["udp://127.0.0.1:%d" % s.getsockname()[1] for s in (silent, echo)] + ["udp://127.0.0.1:%d" % closed_number]
    silent.close()
    echo.close()


def test_real_udp(tmp_path, udp_ports):
    """OpenBSD nc -u -z and bash's /dev/udp side by side (each waits its -w second for an ICMP error)."""
    runs = []
    if OPENBSD_NC:
        runs.append(("nc-u", tools_env(tmp_path / "nc", nc=OPENBSD_NC)))
    if shutil.which("bash"):
        runs.append(("bash", tools_env(tmp_path / "bash", bash=shutil.which("bash"))))
    if BUSYBOX:   # Debian's busybox nc has no -u: with no bash beside it, the probe says so
        runs.append(("none", tools_env(tmp_path / "busybox", nc=BUSYBOX)))
    if not runs:
        pytest.skip("neither OpenBSD nc, bash nor busybox on this machine")
    with ThreadPoolExecutor(len(runs)) as pool:
        results = dict(zip([via for via, _ in runs], pool.map(lambda run: run_real(run[1], udp_ports), runs)))
    if "nc-u" in results:
        assert [v.outcome for v in results["nc-u"]] == ["open", "open", "refused"]
        assert results["nc-u"][0].detail == probe.UDP_OPEN
    if "bash" in results:
        assert [(v.outcome, v.detail) for v in results["bash"]] == [
            ("open", probe.UDP_OPEN), ("open", "a datagram came back: something listens there"),
            ("refused", "ICMP port unreachable came back: nothing listens on that UDP port")]
    if "none" in results:
        assert {v.outcome for v in results["none"]} == {"error"}
        assert "no nc that sends UDP" in results["none"][0].detail


def test_real_dns_from_hosts(tmp_path):
    """localhost is in /etc/hosts: getent finds it there, and so does the script itself where getent is missing."""
    runs = [("getent", {"getent": shutil.which("getent")})] if shutil.which("getent") else []
    runs += [("hosts", {"nslookup": BUSYBOX})] if BUSYBOX else []
    for via, tools in runs:
        (verdict,) = run_real(tools_env(tmp_path / via, **tools), ["localhost"])
        assert (verdict.outcome, verdict.via) == ("open", via) and verdict.addresses, verdict


def in_namespace(tmp_path, argv, env, hosts=None, resolv=None, net=False):
    """argv with /etc/hosts and /etc/resolv.conf bind-mounted from these texts, in a mount namespace of its
    own (and a network one with only a loopback that is down, with net); None where it cannot run here."""
    mount, unshare = shutil.which("mount"), shutil.which("unshare")
    if os.geteuid() != 0 or not (mount and unshare):
        return None
    binds = []
    for name, text in (("hosts", hosts), ("resolv.conf", resolv)):
        if text is not None:
            (tmp_path / name).write_text(text)
            binds += [str(tmp_path / name), "/etc/" + name]
    script = 'while [ $# -gt 0 ] && [ "$1" != -- ]; do "$0" --bind "$1" "$2" || exit 99; shift 2; done; shift; exec "$@"'
    out = subprocess.run([unshare, "-m"] + (["-n"] if net else []) + [shutil.which("sh"), "-c", script, mount] + binds
                         + ["--"] + argv, env=env, capture_output=True, text=True, timeout=30)
    return None if out.returncode == 99 or not out.stdout else out


def test_hosts_file_is_read_as_glibc_reads_it(tmp_path):
    """Where the image has no getent the script reads /etc/hosts itself: names compare without case, a trailing
    dot is kept (glibc finds `web-0.` only in DNS), comments end a line."""
    hosts = "127.0.0.1 localhost\n# 10.0.0.9 web-0\n10.0.0.5 Web-0 alias # web-1\n"
    names = ["web-0", "WEB-0", "ALIAS", "web-0.", "web-1"]
    targets = [parse_dns(n) for n in names]
    runs = [("getent", {"getent": shutil.which("getent")}, ("sh",))] if shutil.which("getent") else []
    runs += [("hosts", {}, ("sh",))] + ([("hosts", {}, (BUSYBOX, "sh"))] if BUSYBOX else [])
    found = []
    for n, (via, tools, shell) in enumerate(runs):
        argv = [shutil.which(shell[0])] + list(shell[1:]) + probe.command(targets, 1)[1:]
        out = in_namespace(tmp_path / str(n), argv, tools_env(tmp_path / str(n), **tools), hosts=hosts,
                           resolv="nameserver 127.0.0.1\n", net=True)
        if out is None:
            pytest.skip("needs root and private mount and network namespaces")
        verdicts = probe.parse_log(targets, out.stdout.splitlines()).verdicts
        assert {v.via for v in verdicts[:3]} == {via}, out.stdout
        found.append([v.addresses for v in verdicts])
    assert found[0] == [("10.0.0.5",)] * 3 + [(), ()]
    assert all(f == found[0] for f in found), found


@pytest.mark.skipif(not shutil.which("bash"), reason="no bash")
def test_real_udp_through_bash_with_a_resolver_that_never_answers(tmp_path):
    """bash resolves the name before its datagram goes: killed while it waits for the resolver, the probe
    says dns (it used to say open: the silence of a datagram that was never sent)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (port 53)")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        silent.bind(("127.0.0.97", 53))   # takes the questions, answers none
    except OSError:
        pytest.skip("127.0.0.97:53 is taken")
    try:
        target = parse_target("udp://db.example:53")
        argv = [shutil.which("sh")] + probe.command([target], 1)[1:]
        out = in_namespace(tmp_path, argv, tools_env(tmp_path, bash=shutil.which("bash")),
                           resolv="nameserver 127.0.0.97\noptions timeout:5 attempts:1\n")
    finally:
        silent.close()
    if out is None:
        pytest.skip("needs a private mount namespace")
    (verdict,) = probe.parse_log([target], out.stdout.splitlines()).verdicts
    assert (verdict.outcome, verdict.via) == ("dns", "bash") and "no datagram was sent" in verdict.detail, out.stdout


class _Resolver:
    """A DNS responder on 127.0.0.1:53: A records for ZONE, NOERROR with no answer for EMPTY, NXDOMAIN for the
    rest; it notes every question (name, type) in order."""
    ZONE = {"db.shop.svc.cluster.local": ["10.96.251.9"], "api.example.com": ["192.0.2.10", "192.0.2.11"]}
    EMPTY = ("empty.example.com",)

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.asked = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            while True:
                query, peer = self.sock.recvfrom(512)
                self.sock.sendto(self._answer(query), peer)
        except OSError:
            pass

    def _answer(self, query):
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]].decode().lower())
            i += 1 + query[i]
        name, qtype = ".".join(labels), struct.unpack(">H", query[i + 1:i + 3])[0]
        self.asked.append((name, qtype))
        records = [socket.inet_aton(a) for a in self.ZONE.get(name, []) if qtype == 1]
        rcode = 0 if name in self.ZONE or name in self.EMPTY else 3
        head = query[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, len(records), 0, 0)
        return head + query[12:i + 5] + b"".join(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + r for r in records)

    def close(self):
        self.sock.close()


def test_real_dns_walks_the_search_domains_as_libc_does(tmp_path):
    """busybox nslookup reads only `nameserver` lines: the script walks `search` and `ndots` itself. Under a pod's
    resolv.conf (bind-mounted in a mount namespace of its own) it asks the same names in the same order as glibc's
    getent, and stops at the first that answers."""
    mount, unshare, getent = shutil.which("mount"), shutil.which("unshare"), shutil.which("getent")
    if os.geteuid() != 0 or not (mount and unshare and getent and BUSYBOX):
        pytest.skip("needs root, unshare, mount, getent and busybox")
    try:
        resolver = _Resolver()
    except OSError:
        pytest.skip("127.0.0.1:53 is taken")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\n"
                      "options ndots:5\n")
    names = ["db", "api.example.com", "nothere", "empty.example.com"]
    targets = [parse_dns(n) for n in names]
    verdicts, asked = {}, {}
    try:
        for via, tools in (("nslookup", {"nslookup": BUSYBOX}), ("getent", {"getent": getent})):
            start = len(resolver.asked)
            argv = probe.command(targets, 1)
            out = subprocess.run([unshare, "-m", shutil.which("sh"), "-c",
                                  '"$0" --bind "$1" /etc/resolv.conf && shift && exec "$@"', mount, str(resolv),
                                  shutil.which("sh")] + argv[1:], env=tools_env(tmp_path / via, **tools),
                                 capture_output=True, text=True, timeout=30)
            if out.returncode or not out.stdout:
                pytest.skip("no private mount namespace here: %s" % out.stderr.strip())
            verdicts[via] = probe.parse_log(targets, out.stdout.splitlines()).verdicts
            asked[via] = [name for name, qtype in resolver.asked[start:] if qtype == 1 and name.startswith("nothere")]
    finally:
        resolver.close()
    for via in ("nslookup", "getent"):
        assert [(v.outcome, v.addresses) for v in verdicts[via]] == [
            ("open", ("10.96.251.9",)), ("open", ("192.0.2.10", "192.0.2.11")), ("dns", ()), ("dns", ())], via
        assert verdicts[via][0].detail == "resolves to 10.96.251.9, as db.shop.svc.cluster.local"
    assert verdicts["nslookup"][2].detail == ("no such name (NXDOMAIN) (tried nothere.shop.svc.cluster.local, "
                                              "nothere.svc.cluster.local, nothere.cluster.local, nothere)")
    assert verdicts["nslookup"][3].detail.startswith("the name has no address record")
    assert list(dict.fromkeys(asked["nslookup"])) == list(dict.fromkeys(asked["getent"])) == [
        "nothere.shop.svc.cluster.local", "nothere.svc.cluster.local", "nothere.cluster.local", "nothere"]
