"""--reuse and --copy-to replayed by the stub kubectl: every call reach makes, and only those.

The fixtures are derived from the recorded refused.jsonl flow (fixtures/build.py says how): no
recording has exec or create. The simulated cluster runs the same flows by meaning
(tests/test_sim_ways.py); here each call and its order of kinds is pinned.
"""
import json

from test_flows import kinds


def test_reuse_runs_the_probe_in_the_running_agent_with_one_exec(reach):
    r = reach("reuse-found", "-o", "json")
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    assert doc["mode"] == "reused" and doc["container"] == "reach-k33p1" and doc["notes"] == []
    assert [t["verdict"] for t in doc["targets"]] == ["refused"]
    assert kinds(r.calls) == ["get", "exec"]
    exec_argv = r.calls[1]["argv"]
    assert exec_argv[:7] == ["exec", "web-refused", "-n", "default", "-c", "reach-k33p1", "--"]
    assert "127.0.0.1" not in " ".join(exec_argv[7:10])   # the scripts; the target only as a parameter


def test_an_agent_gone_before_the_exec_gets_a_new_agent(reach):
    r = reach("reuse-gone")
    assert r.code == 1, r.err
    assert "note: reach agent reach-k33p1 could not run the probe" in r.out
    assert "container not found" in r.out and "added a new agent (it ends after 10m without use)" in r.out
    assert kinds(r.calls)[:2] == ["get", "exec"] and sorted(kinds(r.calls)[2:]) == ["logs", "patch", "watch"]
    patch = next(c for c in r.calls if c["argv"][0] == "patch")
    (added,) = json.loads(patch["stdin"])["spec"]["ephemeralContainers"]
    assert added["command"][3:5] == ["reach-agent", "600"]


def test_exec_forbidden_falls_back_to_a_one_shot_container_and_says_so(reach):
    r = reach("reuse-exec-forbidden", "-o", "json")
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    assert doc["mode"] == "ephemeral"
    assert doc["notes"] == ['kubectl exec is forbidden (forbidden: user "reader" cannot create pods/exec in namespace '
                            '"default"): added a one-shot container instead; --reuse needs create on pods/exec']
    patch = next(c for c in r.calls if c["argv"][0] == "patch")
    assert json.loads(patch["stdin"])["spec"]["ephemeralContainers"][0]["command"][3] == "reach"


def test_copy_to_creates_the_copy_watches_it_reads_it_and_deletes_it(reach):
    r = reach("copy-to", "-o", "json")
    assert r.code == 1, r.err
    assert kinds(r.calls) == ["get", "create", "watch", "logs", "delete"]
    sent = json.loads(r.calls[1]["stdin"])
    assert sent["metadata"]["name"] == "web-reach" and sent["spec"]["restartPolicy"] == "Never"
    assert "containerStatuses[?(@.name==" in r.calls[2]["argv"][-1]
    doc = json.loads(r.out)
    assert doc["mode"] == "copy" and doc["probePod"] == "web-reach" and doc["pod"] == "web-refused"
    assert doc["notes"][-1] == "pod default/web-reach was deleted"
    assert "deleting pod default/web-reach" in r.err


def test_node_mode_without_rights_to_read_nodes_still_probes_and_deletes_its_pod(reach):
    r = reach("node", "-o", "json")
    assert r.code == 1, r.err
    assert kinds(r.calls) == ["get", "get", "create", "watch", "logs", "delete"]
    sent = json.loads(r.calls[2]["stdin"])
    assert sent["spec"]["hostNetwork"] is True and sent["spec"]["nodeName"] == "lab-node"
    assert sent["spec"]["tolerations"] == [] and sent["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "kubectl-reach"}
    doc = json.loads(r.out)
    assert doc["mode"] == "node" and doc["node"] == "lab-node" and doc["probePod"] == "reach-gl7de"
    assert doc["notes"] == ["may not read node lab-node (get nodes), so the pod tolerates none of its taints",
                            "pod default/reach-gl7de was deleted"]
