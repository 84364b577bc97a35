import json
import os
import socket
import subprocess
import sys
from typing import List, NamedTuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUB_DIR = os.path.join(ROOT, "tests", "stub")
FIXTURES = os.path.join(ROOT, "fixtures")
sys.path.insert(0, ROOT)


class Outcome(NamedTuple):
    code: int
    out: str
    err: str
    calls: List[dict]          # what the stub received, in order
    unused: List[int]          # recorded calls never asked for (non-repeat)


def listening_socket(backlog=16):
    """A loopback port that accepts connections (its socket; close it when done)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock


def closed_port():
    """A loopback port nothing listens on: connecting to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def fixture_meta(name):
    with open(os.path.join(FIXTURES, name + ".jsonl"), encoding="utf-8") as f:
        return json.loads(f.readline())["meta"]


def fixture_calls(name):
    with open(os.path.join(FIXTURES, name + ".jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip() and "meta" not in json.loads(line)]


@pytest.fixture(scope="session")
def stub_bin(tmp_path_factory):
    """A directory whose `kubectl` runs the stub with this very python (no PATH shims: fast)."""
    bindir = tmp_path_factory.mktemp("stub-bin")
    wrapper = bindir / "kubectl"
    wrapper.write_text('#!/bin/sh\nexec "%s" -S "%s" "$@"\n' % (sys.executable, os.path.join(STUB_DIR, "kubectl")))
    wrapper.chmod(0o755)
    return str(bindir)


def stub_env(tmp_path, name, suffix, speed="0", bindir=STUB_DIR):
    env = dict(os.environ)
    env.pop("KUBECTL", None)
    env.update(PATH=bindir + os.pathsep + env.get("PATH", ""),
               REACH_FIXTURE=os.path.join(FIXTURES, name + ".jsonl"),
               REACH_STUB_STATE=str(tmp_path / "stub-state.json"),
               REACH_STUB_JOURNAL=str(tmp_path / "stub-journal.jsonl"),
               REACH_STUB_SPEED=speed, NO_COLOR="1", PYTHONIOENCODING="utf-8")
    if suffix:
        env["REACH_NAME_SUFFIX"] = suffix
    return env


def read_outcome(tmp_path, name, proc_code, out, err):
    journal = tmp_path / "stub-journal.jsonl"
    calls = [json.loads(l) for l in journal.read_text().splitlines()] if journal.exists() else []
    state = tmp_path / "stub-state.json"
    used = json.loads(state.read_text()) if state.exists() and state.read_text() else []
    recorded = fixture_calls(name)
    unused = [i for i, c in enumerate(recorded) if not (used[i] if i < len(used) else False) and not c.get("optional")]
    return Outcome(proc_code, out, err, calls, unused)


@pytest.fixture
def reach(tmp_path, stub_bin):
    """Run reach.py as a user would, against the stub kubectl replaying fixture `name`.

    Fails the test on any call the fixture does not have, and on any recorded call not used.
    """
    def run(name, *extra, args=None, suffix=None, allow_unused=False, speed="0", program=None):
        meta = fixture_meta(name)
        argv = list(meta["args"] if args is None else args) + list(extra)
        env = stub_env(tmp_path, name, suffix or meta["suffix"], speed, stub_bin)
        program = program or [sys.executable, os.path.join(ROOT, "reach.py")]
        proc = subprocess.run(program + argv, env=env,
                              capture_output=True, text=True, timeout=60)
        outcome = read_outcome(tmp_path, name, proc.returncode, proc.stdout, proc.stderr)
        unexpected = [c["argv"] for c in outcome.calls if c["call"] is None]
        assert not unexpected, "reach made calls the fixture does not have: %s\nstderr: %s" % (unexpected, proc.stderr)
        if not allow_unused:
            assert not outcome.unused, "recorded calls never made: %s\nstderr: %s" % (outcome.unused, proc.stderr)
        return outcome
    return run
