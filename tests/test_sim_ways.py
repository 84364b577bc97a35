"""--reuse, --copy-to and node/NAME end to end, on the simulated cluster (tests/sim/kubectl).

No recording of these exists (../shared has ephemeral containers only), so they run where
the cluster answers by meaning: flags in any order, a probe that really runs on this machine
against loopback ports, containers that start after a random delay. Every test that creates a
pod asserts what happened to it: deleted on success, on failure and on Ctrl-C, kept with --keep.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from test_sim import NC, cluster, ports, reach  # noqa: F401 (fixtures)

from conftest import ROOT

pytestmark = pytest.mark.skipif(not NC, reason="needs OpenBSD nc (apt-get install netcat-openbsd)")


def pods_of(env):
    with open(os.path.join(env["SIM_STATE"], "pods.json")) as f:
        return json.load(f)


def deleted(env):
    path = os.path.join(env["SIM_STATE"], "deleted.jsonl")
    return [json.loads(line)["deleted"] for line in open(path)] if os.path.exists(path) else []


@pytest.fixture
def fast(cluster):  # noqa: F811
    cluster["SIM_START_DELAY"] = "0.05,0.2"
    yield cluster
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "sim", "kubectl"), "__sim-shutdown"], env=cluster,
                   capture_output=True, timeout=10)


def add_objects(env, *objects):
    path = os.path.join(env["SIM_STATE"], "objects.json")
    existing = json.load(open(path)) if os.path.exists(path) else []
    with open(path, "w") as f:
        json.dump(existing + list(objects), f)


# -- --reuse --------------------------------------------------------------------------------

def test_reuse_adds_an_agent_once_then_execs_in_it(fast, ports):  # noqa: F811
    opened, closed = ports
    first = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--reuse", "-o", "json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["mode"] == "agent" and "added one (it ends after 10m without use)" in doc["notes"][0]
    second = reach(fast, "web", "--to", "127.0.0.1:%d" % closed, "--reuse", "-o", "json", "-v")
    assert second.returncode == 1, second.stderr
    again = json.loads(second.stdout)
    assert again["mode"] == "reused" and again["container"] == doc["container"]
    assert [t["verdict"] for t in again["targets"]] == ["refused"]
    assert again["kubectlCalls"] == 2 and "kubectl exec" in second.stderr.replace("+ kubectl exec", "kubectl exec")
    names = [c["name"] for c in pods_of(fast)["default/web"]["spec"]["ephemeralContainers"]]
    assert names == [doc["container"]]   # no second container


def test_reuse_with_another_image_adds_another_agent(fast, ports):  # noqa: F811
    opened, _ = ports
    assert reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--reuse").returncode == 0
    r = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--reuse", "--bypass-mesh", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mode"] == "agent"
    assert len(pods_of(fast)["default/web"]["spec"]["ephemeralContainers"]) == 2


def test_an_agent_ends_by_itself_after_its_keep_alive_and_the_next_run_adds_one(fast, ports):  # noqa: F811
    opened, _ = ports
    first = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--reuse", "--keep-alive", "1s", "-o", "json")
    assert first.returncode == 0, first.stderr
    name = json.loads(first.stdout)["container"]
    deadline = time.time() + 15
    while time.time() < deadline:   # the agent looks every 5 s
        got = subprocess.run(["kubectl", "get", "pod", "web", "-o",
                              'jsonpath={.status.ephemeralContainerStatuses[?(@.name=="%s")].state}' % name],
                             env=fast, capture_output=True, text=True).stdout
        if "terminated" in got:
            break
        time.sleep(0.2)
    assert "terminated" in got
    second = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--reuse", "-o", "json")
    assert json.loads(second.stdout)["mode"] == "agent" and json.loads(second.stdout)["container"] != name


def test_reuse_without_rights_to_exec_adds_a_one_shot_container_and_says_why(fast, ports):  # noqa: F811
    opened, _ = ports
    assert reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--reuse").returncode == 0
    fast["SIM_NO_EXEC"] = "1"
    r = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--reuse")
    assert r.returncode == 0, r.stderr
    assert "note: kubectl exec is forbidden" in r.stdout and "create on pods/exec" in r.stdout
    added = pods_of(fast)["default/web"]["spec"]["ephemeralContainers"][-1]
    assert added["command"][3] == "reach"   # a one-shot probe, not an agent


# -- --copy-to ------------------------------------------------------------------------------

def test_copy_to_probes_from_a_copy_and_deletes_it(fast, ports):  # noqa: F811
    opened, closed = ports
    before = pods_of(fast)["default/web"]
    r = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--to", "127.0.0.1:%d" % closed,
              "--copy-to", "web-reach", "-o", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [t["verdict"] for t in doc["targets"]] == ["open", "refused"]
    assert doc["mode"] == "copy" and doc["probePod"] == "web-reach" and doc["pod"] == "web"
    assert any("keeps web's labels" in n for n in doc["notes"]) and doc["notes"][-1].endswith("was deleted")
    assert deleted(fast) == ["default/web-reach"] and "default/web-reach" not in pods_of(fast)
    assert pods_of(fast)["default/web"]["spec"] == before["spec"]   # the original: read only


def test_copy_to_keep_leaves_the_copy_and_says_how_to_delete_it(fast, ports):  # noqa: F811
    opened, _ = ports
    r = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--copy-to", "web-reach", "--keep", "--isolate")
    assert r.returncode == 0, r.stderr
    assert "kubectl delete pod web-reach -n default" in r.stdout and not deleted(fast)
    copy = pods_of(fast)["default/web-reach"]
    assert copy["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubectl-reach"}


def test_a_copy_whose_probe_cannot_start_is_deleted_all_the_same(fast, ports):  # noqa: F811
    opened, _ = ports
    fast["SIM_START_DELAY"] = "30,30"
    r = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--copy-to", "web-reach", "--start-timeout", "0.5")
    assert r.returncode == 4
    assert "did not start within 0.5s" in r.stderr and "pod default/web-reach was deleted" in r.stderr
    assert deleted(fast) == ["default/web-reach"]


def test_a_copy_that_exists_already_is_refused_and_left_alone(fast, ports):  # noqa: F811
    opened, _ = ports
    assert reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--copy-to", "web-reach", "--keep").returncode == 0
    r = reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--copy-to", "web-reach")
    assert r.returncode == 3
    assert 'pod "web-reach" already exists in namespace "default"' in r.stderr and not deleted(fast)


def interrupt_when_created(env, argv, name):
    """Start reach, and Ctrl-C its process group once pod `name` exists."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "reach.py")] + argv, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 20
    while time.time() < deadline and "default/" + name not in pods_of(env):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_ctrl_c_deletes_the_copy(fast, ports):  # noqa: F811
    opened, _ = ports
    fast["SIM_START_DELAY"] = "30,30"
    code, _, err = interrupt_when_created(fast, ["web", "--to", "127.0.0.1:%d" % opened, "--copy-to", "web-reach"],
                                          "web-reach")
    assert code == 130, err
    assert "interrupted; pod default/web-reach was deleted" in err and deleted(fast) == ["default/web-reach"]


# -- node/NAME ------------------------------------------------------------------------------

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "lab-node"},
        "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}}


def test_node_mode_probes_from_a_host_network_pod_and_deletes_it(fast, ports):  # noqa: F811
    opened, _ = ports
    add_objects(fast, NODE)
    r = reach(fast, "node/lab-node", "--to", "127.0.0.1:%d" % opened, "-o", "json", "-v")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["mode"] == "node" and doc["node"] == "lab-node" and doc["targets"][0]["verdict"] == "open"
    verbs = [line.split()[2] for line in r.stderr.splitlines() if line.startswith("+ kubectl ")]
    assert verbs[-1] == "delete" and "create" in verbs and "patch" not in verbs
    assert deleted(fast) == ["default/%s" % doc["probePod"]]


def test_node_mode_tolerates_the_nodes_taints(fast, ports):  # noqa: F811
    opened, _ = ports
    add_objects(fast, NODE)
    r = reach(fast, "node/lab-node", "--to", "127.0.0.1:%d" % opened, "--keep", "-o", "json")
    assert r.returncode == 0, r.stderr
    pod = pods_of(fast)["default/" + json.loads(r.stdout)["probePod"]]
    assert pod["spec"]["hostNetwork"] is True and pod["spec"]["nodeName"] == "lab-node"
    # the API server adds its default not-ready/unreachable tolerations after reach's own
    assert pod["spec"]["tolerations"][0] == {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}


def test_node_mode_refuses_a_namespace_whose_pod_security_forbids_host_networking(fast, ports):  # noqa: F811
    opened, _ = ports
    add_objects(fast, NODE,
                {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "shop", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
                {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "ops", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}})
    r = reach(fast, "node/lab-node", "-n", "shop", "--to", "127.0.0.1:%d" % opened)
    assert r.returncode == 3
    assert 'PodSecurity "restricted" of namespace "shop" forbids host networking' in r.stderr
    assert "use -n ops" in r.stderr and not deleted(fast)


def test_a_node_that_does_not_exist(fast, ports):  # noqa: F811
    opened, _ = ports
    r = reach(fast, "node/nope", "--to", "127.0.0.1:%d" % opened)
    assert r.returncode == 3 and 'node "nope" not found' in r.stderr


def test_ctrl_c_deletes_the_node_pod(fast, ports):  # noqa: F811
    opened, _ = ports
    add_objects(fast, NODE)
    fast["SIM_START_DELAY"] = "30,30"
    fast["REACH_NAME_SUFFIX"] = "nodex"
    code, _, err = interrupt_when_created(fast, ["node/lab-node", "--to", "127.0.0.1:%d" % opened], "reach-nodex")
    assert code == 130, err
    assert deleted(fast) == ["default/reach-nodex"] and "was deleted" in err


def sigint_when(env, argv, mark, then=None, after=0.0):
    """Start reach; Ctrl-C its group `after` seconds after `mark` is on its stderr, and again `then`
    seconds later."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "reach.py")] + argv, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    seen = ""
    while mark not in seen:
        line = proc.stderr.readline()
        assert line, "reach ended before %r: %s" % (mark, seen)
        seen += line
    time.sleep(after)
    os.killpg(proc.pid, signal.SIGINT)
    if then is not None:
        time.sleep(then)
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, seen + err


def test_ctrl_c_while_creating_never_deletes_a_pod_this_run_did_not_create(fast, ports):  # noqa: F811
    opened, _ = ports
    assert reach(fast, "web", "--to", "127.0.0.1:%d" % opened, "--copy-to", "web-reach", "--keep").returncode == 0
    fast["SIM_API"] = "1"   # the create is on its way when Ctrl-C comes
    code, _, err = sigint_when(fast, ["web", "--to", "127.0.0.1:%d" % opened, "--copy-to", "web-reach"],
                               "creating pod", after=0.4)
    assert code == 130, err
    assert "was not created by this run (or is gone): left alone" in err
    assert not deleted(fast) and "default/web-reach" in pods_of(fast)


def test_a_second_ctrl_c_does_not_stop_the_delete(fast, ports):  # noqa: F811
    opened, _ = ports
    fast.update(SIM_START_DELAY="30,30", SIM_API="0.4")   # the delete takes a while
    code, _, err = sigint_when(fast, ["web", "--to", "127.0.0.1:%d" % opened, "--copy-to", "web-reach"],
                               "waiting for", then=0.3)
    assert code == 130, err
    assert "pod default/web-reach was deleted" in err and deleted(fast) == ["default/web-reach"]


def test_a_node_pod_whose_probe_cannot_start_is_deleted_all_the_same(fast, ports):  # noqa: F811
    opened, _ = ports
    add_objects(fast, NODE)
    fast["SIM_START_DELAY"] = "30,30"
    r = reach(fast, "node/lab-node", "--to", "127.0.0.1:%d" % opened, "--start-timeout", "0.5", "-o", "json")
    assert r.returncode == 4
    assert "did not start within 0.5s" in r.stderr and "was deleted" in r.stderr
    assert len(deleted(fast)) == 1 and deleted(fast)[0].startswith("default/reach-")
    assert json.loads(r.stdout)["error"]["reason"] == "ProbeError"
