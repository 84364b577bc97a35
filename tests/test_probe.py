"""The probe script and the reading of its output."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, closed_port, listening_socket
from lib import probe
from lib.targets import Target

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


def test_parse_log_reads_one_line_per_target():
    lines = ["reach[1] 127.0.0.1 18080 rc=0 nc-z: 127.0.0.1 (127.0.0.1:18080) open ",
             "reach[2] 127.0.0.1 18081 rc=1 nc-z:  ",
             "reach[3] no-such-host.invalid 80 rc=1 nc-z: nc: bad address 'no-such-host.invalid' ",
             "reach[done] 3"]
    log = probe.parse_log([OPEN, CLOSED, DNS], lines)
    assert log.complete
    assert [v.outcome for v in log.verdicts] == ["open", "refused", "dns"]
    assert log.verdicts[2].raw == "nc: bad address 'no-such-host.invalid'"


def test_parse_log_without_done_marker_is_incomplete():
    log = probe.parse_log([OPEN, CLOSED], ["reach[1] 127.0.0.1 18080 rc=0 nc-z: open", "Killed"])
    assert not log.complete
    assert [v.target for v in log.verdicts] == [OPEN]
    assert log.other_lines == ["Killed"]
    every = probe.with_missing([CLOSED, OPEN], log, "the container ended")
    assert [(v.target, v.outcome) for v in every] == [(CLOSED, "error"), (OPEN, "open")]
    assert (every[0].detail, every[0].raw) == ("the container ended", "Killed")


def test_parse_log_ignores_lines_for_unknown_indexes():
    log = probe.parse_log([OPEN], ["reach[7] x 1 rc=0 nc-z: open", "reach[done] 1"])
    assert not log.complete and log.verdicts == [] and log.other_lines == ["reach[7] x 1 rc=0 nc-z: open"]


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
    argv = probe.command([OPEN, Target("::1", 443)], 2.2)
    assert argv[:2] == ["sh", "-c"] and argv[2] == probe.SCRIPT
    assert argv[3:] == ["reach", "3", "127.0.0.1", "18080", "::1", "443"]
    assert probe.wait_seconds(0.2) == 1


# -- the script, run for real ---------------------------------------------------------------

def fake_tools(tmp_path, tools, with_timeout=True):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in tools:
        os.symlink(os.path.join(ROOT, "fixtures", "fakes", "tool"), bindir / tool)
    if with_timeout:
        os.symlink(shutil.which("timeout"), bindir / "timeout")
    return {"PATH": "%s:%s" % (bindir, os.path.dirname(sys.executable)), "FAKE_TOOLS": json.dumps(tools)}


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
    printed = sorted(line.split(" ")[:2] for line in out.splitlines() if not line.startswith("reach[done]"))
    assert [host for _, host in printed][:4] == [h.split(" ")[0] for h in hosts[:4]]
    assert out.splitlines()[-1] == "reach[done] 5"


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
    return {"PATH": str(bindir)}


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
    out = run_script([opened, closed, dropping], 1, {"PATH": str(bindir)}, shell=(shutil.which("sh"),))
    log = probe.parse_log([opened, closed, dropping], out.splitlines())
    assert [(v.outcome, v.via) for v in log.verdicts] == [("open", "bash"), ("refused", "bash"), ("timeout", "bash")]
