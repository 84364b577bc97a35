"""`reach history POD`: the containers a pod has gathered, replayed from a real pod JSON."""
import json

from conftest import fixture_calls
from lib import container, history
from lib.targets import parse_dns, parse_target


def test_history_lists_the_recorded_containers_newest_first(reach):
    r = reach("history-images")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "STATE", "EXIT", "STARTED", "PROBED"]
    assert lines[1].startswith("reach-img20  debian:bookworm-slim")
    assert "reach-img11  nicolaka/netshoot:v0.13  terminated (Error)       1" in r.out
    assert "nc -zv -w 2 no-such-host.invalid 80" in r.out
    pod = json.loads(fixture_calls("history-images")[0]["stdout"])
    assert len(lines) - 1 == len(pod["spec"]["ephemeralContainers"])


def test_history_as_json(reach):
    doc = json.loads(reach("history-images", "-o", "json").out)
    started = [c["started"] for c in doc["containers"]]
    assert started == sorted(started, reverse=True) and doc["pod"] == "web-images"
    assert {c["state"] for c in doc["containers"]} == {"terminated"}


def test_what_reach_own_containers_probed():
    c = container.build(container.Spec("reach-abcde", "busybox:1.36", "IfNotPresent",
                                       [parse_target("db:5432"), parse_target("[fd00::1]:443")], 3))
    pod = {"spec": {"ephemeralContainers": [c, {"name": "debugger", "image": "x"}]}, "status": {}}
    (row,) = history.rows(pod)   # only reach's own
    assert row["probed"] == "db:5432 [fd00::1]:443" and row["state"] == "waiting"


def test_history_of_a_missing_pod_is_one_line(reach):
    r = reach("not-found-pod", args=["history", "nope", "-n", "default"], allow_unused=True)   # a run's patch
    assert r.code == 3 and r.err.splitlines() == [
        'error: pod "nope" not found in namespace "default"; check the name with kubectl get pods -n default']


def test_every_kind_of_target_and_reuse_agents_read_back():
    targets = [parse_target(t) for t in ("db:5432", "udp://[fd00::10]:53", "https://api/healthz?x=1")] + [parse_dns("db")]
    c = container.build(container.Spec("reach-abcde", "busybox:1.36", "IfNotPresent", targets, 3, insecure=True))
    expected = "db:5432 udp://[fd00::10]:53 https://api/healthz?x=1 dns://db"
    assert history.probed(c["command"]) == expected
    agent = c["command"][:3] + ["reach-agent", "600"] + c["command"][4:]     # sh -c SCRIPT reach-agent KEEP WAIT ...
    assert history.probed(agent) == expected
    older = ["sh", "-c", "w=$1; shift; ... reach[%s] ...", "reach", "3", "db", "5432", "::1", "443"]   # HOST PORT pairs
    assert history.probed(older) == "db:5432 [::1]:443"
    assert history.probed(["sh", "-c", "echo reach[1]", "reach", "3", "tcp", "db"]).startswith("sh -c echo")
