"""The replay stub is strict, and the fixtures are what the builder makes of the recordings."""
import filecmp
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, STUB_DIR, fixture_calls

RECORDINGS = os.path.join(ROOT, "..", "shared", "recordings")


def stub(tmp_path, fixture, *argv, stdin=None):
    path = fixture if os.path.isabs(fixture) else os.path.join(FIXTURES, fixture + ".jsonl")
    env = dict(os.environ, REACH_FIXTURE=path, REACH_STUB_STATE=str(tmp_path / "state"), REACH_STUB_SPEED="0")
    return subprocess.run([sys.executable, os.path.join(STUB_DIR, "kubectl")] + list(argv), env=env, input=stdin,
                          capture_output=True, text=True)


def test_stub_refuses_unknown_calls_loudly(tmp_path):
    out = stub(tmp_path, "open", "get", "pod", "someone-else", "-o", "json")
    assert out.returncode == 127
    assert "unexpected call" in out.stderr and "someone-else" in out.stderr


def test_stub_answers_identical_calls_in_order_and_repeats_only_marked_ones(tmp_path):
    poll = ["get", "pod", "web", "-o", "jsonpath={.status}"]
    once = ["get", "pod", "web", "-o", "json"]
    fixture = tmp_path / "f.jsonl"
    fixture.write_text("\n".join(json.dumps(c) for c in [
        {"meta": {"args": [], "sources": ["test"]}},
        {"argv": poll, "stdout": "first"}, {"argv": poll, "stdout": "then", "repeat": True},
        {"argv": once, "stdout": "{}"}]))
    answers = [stub(tmp_path, str(fixture), *poll).stdout for _ in range(4)]
    assert answers == ["first", "then", "then", "then"]
    assert stub(tmp_path, str(fixture), *once).returncode == 0
    assert stub(tmp_path, str(fixture), *once).returncode == 127


def test_stub_holds_a_watch_open_until_it_is_ended(tmp_path):
    watch = next(c for c in fixture_calls("watch") if "--watch" in c["argv"])
    env = dict(os.environ, REACH_FIXTURE=os.path.join(FIXTURES, "watch.jsonl"), REACH_STUB_STATE=str(tmp_path / "s"),
               REACH_STUB_SPEED="0")
    proc = subprocess.Popen([sys.executable, os.path.join(STUB_DIR, "kubectl")] + watch["argv"], env=env,
                            stdout=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline() for _ in watch["chunks"]]
    assert "terminated" in lines[-1]
    assert proc.poll() is None   # still open, as a real watch is
    proc.terminate()
    proc.wait(5)


def test_stub_checks_stdin_as_json(tmp_path):
    replace = ["replace", "--raw", "/api/v1/namespaces/default/pods/web-old-kubectl/ephemeralcontainers", "-f", "-"]
    assert stub(tmp_path, "old-kubectl", *replace, stdin='{"kind": "Pod"}').returncode == 127
    recorded = next(json.loads(l) for l in open(os.path.join(FIXTURES, "old-kubectl.jsonl")) if '"replace"' in l)
    pretty = json.dumps(json.loads(recorded["stdin"]), indent=1)
    assert stub(tmp_path, "old-kubectl", *replace, stdin=pretty).returncode == 0


def test_every_fixture_names_its_sources():
    for name in os.listdir(FIXTURES):
        if name.endswith(".jsonl"):
            with open(os.path.join(FIXTURES, name)) as f:
                meta = json.loads(f.readline())["meta"]
            assert meta["sources"] and meta["args"], name


@pytest.mark.skipif(not os.path.isdir(RECORDINGS), reason="../shared/recordings is not beside this checkout")
def test_fixtures_are_up_to_date_with_the_recordings_and_the_probe(tmp_path):
    spec = importlib.util.spec_from_file_location("build", os.path.join(FIXTURES, "build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.build(RECORDINGS, str(tmp_path))
    made = sorted(os.listdir(tmp_path))
    assert made
    _, mismatch, errors = filecmp.cmpfiles(FIXTURES, str(tmp_path), made, shallow=False)
    assert not mismatch and not errors, "run `make fixtures`: %s differ" % (mismatch + errors)
