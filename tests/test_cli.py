"""The command line as people meet it: help, usage errors, plugin discovery, Ctrl-C, the demo."""
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, stub_env
from lib import cli
from lib.errors import UsageError

REACH = [sys.executable, os.path.join(ROOT, "reach.py")]


def run(args, env=None):
    return subprocess.run(REACH + args, capture_output=True, text=True, env=env, timeout=30)


def test_help_shows_examples_exit_codes_and_rbac():
    out = run(["--help"])
    assert out.returncode == 0
    assert out.stdout.startswith("usage: reach.py POD --to HOST:PORT")
    for text in ("examples:", "exit codes:", "130  interrupted", "pods/ephemeralcontainers", "--to db:5432"):
        assert text in out.stdout


def test_version():
    out = run(["--version"])
    assert out.returncode == 0 and out.stdout.startswith("reach.py 0.")


@pytest.mark.parametrize("argv0, prog", [("/usr/local/bin/kubectl-reach", "kubectl reach"), ("reach.py", "reach.py"),
                                         ("/home/me/.krew/bin/kubectl-reach", "kubectl reach"),
                                         ("/x/kubectl_reach", "kubectl reach")])
def test_prog_name(argv0, prog):
    assert cli.prog_name(argv0) == prog


@pytest.mark.parametrize("args, says", [
    (["web"], "missing --to"),
    (["--to", "db:5432"], "missing POD"),
    (["web", "--to", "db"], "missing port"),
    (["web", "--to", "db:99999"], "out of range"),
    (["web", "--to", "db:80", "--timeout", "soon"], "invalid --timeout"),
    (["web", "--to", "db:80", "--start-timeout", "0"], "invalid --start-timeout"),
])
def test_usage_errors_exit_2_before_any_kubectl_call(tmp_path, args, says):
    env = stub_env(tmp_path, "open", None)
    out = run(args, env)
    assert out.returncode == 2
    assert says in out.stderr and "(see reach.py --help)" in out.stderr
    assert not (tmp_path / "stub-journal.jsonl").exists()


def test_argparse_errors_exit_2():
    out = run(["web", "--to", "db:80", "--image-pull-policy", "Sometimes"])
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_flags_of_the_krew_reach_plugin_are_accepted():
    args = cli.build_parser("kubectl reach").parse_args(
        ["web", "--to", "db:5432", "--image", "busybox", "--timeout", "10s", "-n", "shop"])
    req = cli.make_request(args, {})
    assert (req.pod, req.namespace, req.image, req.timeout) == ("web", "shop", "busybox", 10.0)
    assert [str(t) for t in req.targets] == ["db:5432"]


def test_targets_repeat_or_comma_separated_and_deduplicated():
    assert [str(t) for t in cli.parse_targets(["a:1,b:2", "a:1", "[::1]:3"])] == ["a:1", "b:2", "[::1]:3"]


def test_name_suffix_hook_is_validated():
    args = cli.build_parser("x").parse_args(["web", "--to", "db:1"])
    with pytest.raises(UsageError):
        cli.make_request(args, {"REACH_NAME_SUFFIX": "Bad_Name"})


def test_missing_kubectl(tmp_path):
    out = run(["web", "--to", "db:80", "--kubectl", str(tmp_path / "nope")])
    assert out.returncode == 3
    assert out.stderr.strip() == ("error: kubectl not found (looked for '%s'); install kubectl, or point --kubectl "
                                  "or $KUBECTL at it" % (tmp_path / "nope"))


def test_kubectl_env_variable_is_used(tmp_path):
    env = dict(os.environ, KUBECTL=str(tmp_path / "from-env"))
    out = run(["web", "--to", "db:80"], env)
    assert "from-env" in out.stderr and out.returncode == 3


def test_demo_replays_a_recorded_session():
    env = dict(os.environ, REACH_STUB_SPEED="0", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    out = run(["--demo"], env)
    assert out.returncode == 1
    assert out.stdout.splitlines()[:3] == ["✓ 127.0.0.1:18080 open", "✗ 127.0.0.1:18081 refused",
                                           "✗ no-such-host.invalid:80 dns (nc: bad address 'no-such-host.invalid')"]
    assert "no cluster is contacted" in out.stderr


def test_plain_marks_when_stdout_cannot_encode_them(tmp_path):
    env = dict(os.environ, REACH_STUB_SPEED="0", PYTHONIOENCODING="ascii")
    out = subprocess.run(REACH + ["--demo"], capture_output=True, env=env, timeout=30)
    assert out.stdout.decode().splitlines()[0] == "ok 127.0.0.1:18080 open"


@pytest.mark.skipif(not shutil.which("kubectl"), reason="needs the real kubectl")
def test_real_kubectl_discovers_and_runs_the_plugin(tmp_path):
    plugin = tmp_path / "kubectl-reach"
    plugin.write_text("#!%s\nimport sys\nsys.path.insert(0, %r)\nfrom lib.cli import main\nsys.exit(main())\n"
                      % (sys.executable, ROOT))
    plugin.chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (tmp_path, os.environ["PATH"]))
    listed = subprocess.run(["kubectl", "plugin", "list"], capture_output=True, text=True, env=env)
    assert str(plugin) in listed.stdout
    helped = subprocess.run(["kubectl", "reach", "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: kubectl reach POD --to HOST:PORT")
    bad = subprocess.run(["kubectl", "reach", "web"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "(see kubectl reach --help)" in bad.stderr


def probing_timeout_fixture(tmp_path, stub_bin):
    """reach replaying timeout.jsonl at its recorded pace, in a session of its own, once it reads logs."""
    meta = json.loads(open(os.path.join(ROOT, "fixtures", "timeout.jsonl")).readline())["meta"]
    env = stub_env(tmp_path, "timeout", meta["suffix"], speed="1", bindir=stub_bin)
    proc = subprocess.Popen(REACH + meta["args"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    journal = tmp_path / "stub-journal.jsonl"
    deadline = time.time() + 20
    while time.time() < deadline and not (journal.exists() and '"logs"' in journal.read_text()):
        time.sleep(0.05)
    time.sleep(0.2)
    return proc


def test_ctrl_c_names_the_container_and_exits_130(tmp_path, stub_bin):
    proc = probing_timeout_fixture(tmp_path, stub_bin)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole foreground group
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted; ephemeral container reach-0d4ft stays in pod web-timeout" in err
    assert "kubectl logs web-timeout -n default -c reach-0d4ft" in err
    assert "Traceback" not in err


def test_a_reader_that_leaves_early_is_no_error():
    env = dict(os.environ, REACH_STUB_SPEED="0", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    read, write = os.pipe()
    os.close(read)  # as `reach ... | head -0` does
    proc = subprocess.run(REACH + ["--demo"], stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=30)
    os.close(write)
    assert "Traceback" not in proc.stderr and "Exception" not in proc.stderr
    assert proc.returncode == 1   # the verdict's exit code, not a crash


def test_sigterm_takes_the_ctrl_c_path(tmp_path, stub_bin):
    meta = json.loads(open(os.path.join(ROOT, "fixtures", "timeout.jsonl")).readline())["meta"]
    env = stub_env(tmp_path, "timeout", meta["suffix"], speed="1", bindir=stub_bin)
    proc = subprocess.Popen(REACH + meta["args"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = tmp_path / "stub-journal.jsonl"
    deadline = time.time() + 20
    while time.time() < deadline and not (journal.exists() and '"logs"' in journal.read_text()):
        time.sleep(0.05)
    time.sleep(0.2)
    proc.terminate()   # to reach alone, as a CI runner cancelling a job does
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "ephemeral container reach-0d4ft stays in pod web-timeout" in err and "Traceback" not in err


def test_a_closed_stderr_does_not_change_the_exit_code():
    env = dict(os.environ, REACH_STUB_SPEED="0", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    read, write = os.pipe()
    os.close(read)   # as `reach ... 2>&1 | head -0` does
    proc = subprocess.run(REACH + ["--demo"], stdout=subprocess.DEVNULL, stderr=write, env=env, timeout=30)
    os.close(write)
    assert proc.returncode == 1   # the demo's verdict: one refused, one DNS failure


@pytest.mark.parametrize("args,says", [
    (["web", "--to", "db:80", "--bogus"], "error: unrecognized arguments: --bogus (see reach.py --help)"),
    (["web", "--to", "db:80", "-o", "xml"], "error: argument -o/--output: invalid choice: 'xml'"),
    (["lint"], "error: the following arguments are required: FILE (see reach.py lint --help)"),
    (["web", "--to", "ftp://db:21"], "reach probes tcp://, udp://, http:// and https:// targets (and names with --dns)"),
    (["web", "--dns", "10.0.0.1"], "invalid --dns '10.0.0.1': 10.0.0.1 is an address, not a name to resolve"),
    (["--demo", "--to", "db:5432"], "--demo replays a recorded session as it was: drop --to"),
    (["explain", "web", "-l", "app=web", "--to", "db:1"], "unrecognized arguments: -l app=web"),
])
def test_every_usage_error_is_one_line(args, says):
    out = run(args)
    assert out.returncode == 2 and says in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr


@pytest.mark.parametrize("args,says", [
    (["web", "--to", "udp://dns"], "invalid target 'udp://dns': missing port; expected HOST:PORT, e.g. udp://dns:443"),
    (["web", "--to", "https://user:pw@api.example.com/"], "no user or password in the URL"),
    (["web", "--to", "db:1", "--to", "http://web/a b"], "the path may hold only URL characters"),
    (["web", "--dns", "db:53"], "invalid --dns 'db:53': give the name alone, without a port or path"),
    (["web", "--dns", "db,a..b"], "invalid --dns 'a..b': 'a..b' is not a valid host name"),
    (["web"], "missing --to: name at least one target, e.g. --to db:5432 (or a name to resolve: --dns db)"),
])
def test_target_errors_are_one_line_before_any_kubectl(args, says):
    out, err = io.StringIO(), io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:   # in-process: a run installs reach's signal handlers before it validates
        code = cli.main(args + ["--kubectl", "/nonexistent/kubectl"], out=out, err=err, env={})
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 2 and says in err.getvalue() and len(err.getvalue().splitlines()) == 1, err.getvalue()


def test_dry_run_spellings(tmp_path):
    pod_file = tmp_path / "pod.json"
    pod_file.write_text(json.loads(open(os.path.join(ROOT, "fixtures", "open.jsonl")).readlines()[1])["stdout"])
    for spelling in (["--dry-run", "client"], ["--dry-run"], ["--dry-run=client"]):
        out = run(spelling + ["web-open", "--to", "db:1", "--pod-file", str(pod_file), "--kubectl", "/nonexistent"])
        assert out.returncode == 0 and json.loads(out.stdout)["spec"], (spelling, out.stderr)


def test_explain_has_its_own_help():
    out = run(["explain", "--help"])
    assert out.returncode == 0 and out.stdout.startswith("usage: reach.py explain POD --to HOST:PORT")
    assert "4 what decides could not be read" in out.stdout and "--image" not in out.stdout


def test_the_demo_gives_no_hint_it_cannot_follow():
    out = run(["--demo"])
    assert out.returncode == 1 and "hint: --explain" not in out.stderr


def test_a_second_signal_does_not_cut_the_message_short(tmp_path, stub_bin):
    """A job runner that signals reach and then its process group; Ctrl-C pressed twice."""
    proc = probing_timeout_fixture(tmp_path, stub_bin)
    proc.terminate()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "ephemeral container reach-0d4ft stays in pod web-timeout" in err and "Traceback" not in err
