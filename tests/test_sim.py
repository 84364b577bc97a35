"""End to end against a simulated cluster that answers by meaning, not by recorded argv.

The probe really runs here, with this machine's nc, against loopback ports; containers
start after a random delay, so poll counts and timing differ on every run.
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, closed_port, fixture_calls, listening_socket

SIM = os.path.join(ROOT, "tests", "sim", "kubectl")
NC = next((p for p in ("/bin/nc.openbsd", "/usr/bin/nc.openbsd") if os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(not NC, reason="needs OpenBSD nc (apt-get install netcat-openbsd)")


@pytest.fixture
def cluster(tmp_path):
    state = tmp_path / "cluster"
    state.mkdir()
    pod = json.loads(fixture_calls("open")[0]["stdout"])   # a real pod, as the API server returned it
    pods = {"default/web": dict(pod, metadata=dict(pod["metadata"], name="web"))}
    (state / "pods.json").write_text(json.dumps(pods))
    tools = tmp_path / "tools"
    tools.mkdir()
    os.symlink(NC, tools / "nc")
    kubectl = tmp_path / "bin" / "kubectl"
    kubectl.parent.mkdir()
    kubectl.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, SIM))
    kubectl.chmod(0o755)
    env = dict(os.environ, SIM_STATE=str(state), SIM_TOOLS=str(tools), NO_COLOR="1", PYTHONIOENCODING="utf-8",
               PATH="%s:%s" % (kubectl.parent, os.environ["PATH"]))
    env.pop("KUBECTL", None)
    env.pop("REACH_NAME_SUFFIX", None)
    return env


@pytest.fixture
def ports():
    opened = listening_socket()
    yield opened.getsockname()[1], closed_port()
    opened.close()


def reach(env, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "reach.py")] + list(args), env=env,
                          capture_output=True, text=True, timeout=60)


def test_end_to_end_with_random_start_delay(cluster, ports):
    opened, closed = ports
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "--to", "127.0.0.1:%d" % closed, "-o", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [t["verdict"] for t in doc["targets"]] == ["open", "refused"]
    assert doc["namespace"] == "default"   # no -n: taken from the pod
    assert doc["container"].startswith("reach-")


def test_flags_in_another_order_and_a_second_run_adds_a_second_container(cluster, ports):
    opened, _ = ports
    first = reach(cluster, "--timeout", "2", "-n", "default", "--to", "127.0.0.1:%d" % opened, "web")
    second = reach(cluster, "web", "--to=127.0.0.1:%d" % opened, "--namespace=default")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.startswith("✓ 127.0.0.1:%d open" % opened)
    pods = json.loads(open(os.path.join(cluster["SIM_STATE"], "pods.json")).read())
    names = [c["name"] for c in pods["default/web"]["spec"]["ephemeralContainers"]]
    assert len(names) == 2 and len(set(names)) == 2


def test_old_kubectl_against_the_simulated_cluster(cluster, ports):
    opened, _ = ports
    cluster["SIM_CLIENT"] = "27"
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "-v")
    assert r.returncode == 0, r.stderr
    assert "replace --raw /api/v1/namespaces/default/pods/web/ephemeralcontainers" in r.stderr


def test_slow_start_tells_the_user_what_it_waits_for(cluster, ports):
    opened, _ = ports
    cluster["SIM_START_DELAY"] = "2.3,2.4"
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened)
    assert r.returncode == 0, r.stderr
    assert "waiting for reach-" in r.stderr and "ContainerCreating" in r.stderr


def test_start_deadline(cluster, ports):
    opened, _ = ports
    cluster["SIM_START_DELAY"] = "30,30"
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "--start-timeout", "0.5s")
    assert r.returncode == 4
    assert "did not start within 0.5s: it is still ContainerCreating" in r.stderr


def test_a_container_killed_mid_probe_gives_error_verdicts_that_say_why(cluster, tmp_path):
    slow_nc = tmp_path / "slow"
    slow_nc.mkdir()
    (slow_nc / "nc").write_text("#!/bin/sh\nsleep 5\n")
    (slow_nc / "nc").chmod(0o755)
    cluster.update(SIM_TOOLS=str(slow_nc), SIM_KILL_AFTER="0.3", SIM_START_DELAY="0.1,0.2")
    r = reach(cluster, "web", "--to", "127.0.0.1:1", "--to", "127.0.0.1:2")
    assert r.returncode == 4, r.stderr
    lines = r.stdout.splitlines()
    assert [l.split(" ")[:3] for l in lines[:2]] == [["?", "127.0.0.1:1", "error"], ["?", "127.0.0.1:2", "error"]]
    assert "the probe container ended (OOMKilled, exit code 137) before reporting this target" in lines[0]


def test_without_rights_to_watch_it_polls(cluster, ports):
    opened, _ = ports
    cluster["SIM_NO_WATCH"] = "1"
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "-v")
    assert r.returncode == 0, r.stderr
    assert "--watch" in r.stderr and "-o 'jsonpath={.status.ephemeralContainerStatuses" in r.stderr


def test_a_quick_probe_needs_four_kubectl_processes(cluster, ports):
    opened, _ = ports
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "--to", "127.0.0.1:%d" % opened, "-o", "json")
    assert r.returncode == 0, r.stderr
    # get, watch, the patch ahead and its spare: the verdicts came with the end
    assert json.loads(r.stdout)["kubectlCalls"] == 4


def test_a_slow_probe_is_followed_with_logs(cluster, tmp_path):
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "nc").write_text("#!/bin/sh\nsleep 0.6\necho 'nc: 127.0.0.1 (127.0.0.1:9): Connection timed out' >&2\nexit 1\n")
    (slow / "nc").chmod(0o755)
    cluster["SIM_TOOLS"] = str(slow)
    r = reach(cluster, "web", "--to", "127.0.0.1:9", "-o", "json", "-v")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["targets"][0]["verdict"] == "timeout"
    assert "kubectl logs -f web" in r.stderr and json.loads(r.stdout)["kubectlCalls"] == 5


def test_verdicts_from_the_termination_message_need_no_logs_call(cluster, ports):
    opened, closed = ports
    cluster["SIM_RELIST"] = "1"   # the kubelet reports the container once it has already ended...
    for _ in range(3):   # ...unless a relist falls between the probe's start and end (a loaded machine)
        r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "--to", "127.0.0.1:%d" % closed, "-o", "json",
                  "-v")
        assert r.returncode == 1, r.stderr
        doc = json.loads(r.stdout)
        assert [t["verdict"] for t in doc["targets"]] == ["open", "refused"]
        if doc["kubectlCalls"] == 4:
            break
    assert doc["kubectlCalls"] == 4 and "kubectl logs" not in r.stderr


@pytest.fixture
def shop(cluster):
    """The simulated cluster holding namespace shop as recorded (explain.jsonl): pod web, the other pods,
    Services, EndpointSlices, NetworkPolicies and namespaces."""
    calls = fixture_calls("explain-namespace-selector")
    web = json.loads(calls[0]["stdout"])
    items = json.loads(fixture_calls("explain-services")[1]["stdout"])["items"]
    state = cluster["SIM_STATE"]
    with open(os.path.join(state, "pods.json"), "w") as f:
        json.dump({"shop/web": web}, f)
    with open(os.path.join(state, "objects.json"), "w") as f:
        json.dump([i for i in items if i["metadata"]["name"] != "web"] + json.loads(calls[2]["stdout"])["items"], f)
    cluster["SIM_START_DELAY"] = "0.05,0.2"
    return cluster


def test_explain_after_a_live_probe_says_why(shop):
    r = reach(shop, "web", "-n", "shop", "--to", "db:5432", "--timeout", "1", "--explain", "-v")
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("✗ db:5432 dns")      # the name does not resolve on this machine either
    why = lines[lines.index("why db:5432 dns:"):]
    assert why[1] == '  Service shop/db (ClusterIP 10.96.251.9): port 5432/TCP "pg" -> targetPort pg'
    assert any(line.startswith("  DNS: egress of shop/web is restricted") for line in why)
    reads = [line for line in r.stderr.splitlines() if line.startswith("+ kubectl get services,")]
    assert len(reads) == 1                                 # one multi-kind read after the probe


def test_explain_in_json_and_the_hint_without_it(shop):
    r = reach(shop, "web", "-n", "shop", "--to", "db:5432", "--timeout", "1", "--explain", "-o", "json")
    target = json.loads(r.stdout)["targets"][0]
    assert target["explain"]["dns"] == {"allowed": False,
                                        "policies": ["shop/default-deny-egress", "shop/web-to-db"]}
    plain = reach(shop, "web", "-n", "shop", "--to", "db:5432", "--timeout", "1")
    assert "hint: --explain reads the Service, endpoints and NetworkPolicies on the path (read-only)" in plain.stderr
    assert "why" not in plain.stdout


def test_explain_carries_on_without_the_kinds_it_may_not_read(shop):
    shop["SIM_FORBID"] = "networkpolicies.networking.k8s.io"
    r = reach(shop, "explain", "web", "-n", "shop", "--to", "db:5432")
    assert r.returncode == 4, r.stderr
    assert "not allowed to read networkpolicies" in r.stdout and "1 ready endpoint: db-0 10.244.0.17" in r.stdout


@pytest.fixture
def fleet_cluster(cluster):
    """Five pods of Deployment web (a recorded pod, copied): four Running, one Pending."""
    pod = json.loads(fixture_calls("open")[0]["stdout"])
    pods = {}
    for i in range(1, 6):
        p = json.loads(json.dumps(pod))
        p["metadata"].update(name="web-%d" % i, labels={"app": "web"},
                             ownerReferences=[{"kind": "ReplicaSet", "name": "web-7c9f6", "controller": True}])
        p["status"]["phase"] = "Pending" if i == 5 else "Running"
        pods["default/web-%d" % i] = p
    state = cluster["SIM_STATE"]
    with open(os.path.join(state, "pods.json"), "w") as f:
        json.dump(pods, f)
    with open(os.path.join(state, "objects.json"), "w") as f:
        json.dump([{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"selector": {"matchLabels": {"app": "web"}}}}], f)
    cluster["SIM_START_DELAY"] = "0.05,0.3"
    return cluster


def containers_per_pod(env):
    pods = json.loads(open(os.path.join(env["SIM_STATE"], "pods.json")).read())
    return {k: len(p["spec"].get("ephemeralContainers") or []) for k, p in pods.items()}


def test_fan_out_over_a_workload_one_container_per_pod(fleet_cluster, ports, tmp_path):
    opened, closed = ports
    junit = tmp_path / "report.xml"
    r = reach(fleet_cluster, "deploy/web", "--to", "127.0.0.1:%d,127.0.0.1:%d" % (opened, closed),
              "--parallel", "3", "--junit", str(junit))
    assert r.returncode == 1, r.stderr     # the closed port is expected open
    assert containers_per_pod(fleet_cluster) == {"default/web-%d" % i: (0 if i == 5 else 1) for i in range(1, 6)}
    assert "4 pods" not in r.stdout and "5 pods (1 skipped), 8 checks: 4 passed, 4 failed" in r.stdout
    import xml.etree.ElementTree as ET
    suite = ET.parse(str(junit)).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("10", "4", "2")


def test_fan_out_expecting_closed_and_a_plan_file(fleet_cluster, ports, tmp_path):
    opened, closed = ports
    plan_file = tmp_path / "checks.yaml"
    plan_file.write_text("checks:\n- from: {selector: app=web}\n  to: [127.0.0.1:%d]\n"
                         "- from: deploy/web\n  to: 127.0.0.1:%d\n  expect: closed\n"
                         "- from: web-1\n  to: [no-such-host.invalid:80]\n  expect: closed\n" % (opened, closed))
    r = reach(fleet_cluster, "-f", str(plan_file), "--tap")
    assert r.returncode == 1, r.stderr     # the DNS failure does not count as closed
    assert "not ok 3 - default/web-1 no-such-host.invalid:80 dns" in r.stdout.splitlines()
    assert set(containers_per_pod(fleet_cluster).values()) == {0, 1}   # every target of a pod in one container
    again = reach(fleet_cluster, "-f", str(plan_file), "--dns-counts-as-closed", "-o", "json")
    assert again.returncode == 0, again.stdout
    assert json.loads(again.stdout)["summary"] == "5 pods (1 skipped), 9 checks: 9 passed, 0 failed"


def test_a_partial_failure_is_reported_per_pod(fleet_cluster, ports):
    opened, _ = ports
    fleet_cluster["SIM_DENY_PATCH"] = "web-2"
    r = reach(fleet_cluster, "-l", "app=web", "--to", "127.0.0.1:%d" % opened)
    assert r.returncode == 3, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith('? default/web-2 127.0.0.1:%d error: forbidden: user "sim" cannot patch' % opened)
    assert lines[0] == "✓ default/web-1 127.0.0.1:%d open" % opened


def interrupted_fan_out(env, opened, parallel):
    """A fan-out over app=web, interrupted as a terminal does once its first container is in."""
    import signal
    import time
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "reach.py"), "-l", "app=web", "--to",
                             "127.0.0.1:%d" % opened, "--parallel", str(parallel)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 20
    while time.time() < deadline and sum(containers_per_pod(env).values()) < 1:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)   # the whole foreground group
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


def test_ctrl_c_during_a_fan_out_names_every_container_added(fleet_cluster, ports):
    opened, _ = ports
    fleet_cluster["SIM_START_DELAY"] = "30,30"     # containers that never start while the test runs
    code, err = interrupted_fan_out(fleet_cluster, opened, 2)
    assert code == 130, err
    added = [k for k, n in containers_per_pod(fleet_cluster).items() if n]
    assert added and "Traceback" not in err
    for key in added:   # each named, as added or as perhaps added (its patch was under way)
        assert "(pod %s)" % key in err


def test_one_pod_fan_out_with_one_slot_does_not_wait_for_ever(fleet_cluster, ports, tmp_path):
    opened, _ = ports
    r = reach(fleet_cluster, "web-1", "--to", "127.0.0.1:%d" % opened, "--junit", str(tmp_path / "r.xml"),
              "--parallel", "1")   # its own watch takes no slot: the patch still gets one
    assert r.returncode == 0, r.stderr


def test_without_rights_to_watch_a_fan_out_polls(fleet_cluster, ports):
    opened, _ = ports
    fleet_cluster["SIM_NO_WATCH"] = "1"
    r = reach(fleet_cluster, "-l", "app=web", "--to", "127.0.0.1:%d" % opened, "-q")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "4 passed" in r.stdout


def test_ctrl_c_starts_no_patch_after_it(fleet_cluster, ports):
    import time
    opened, _ = ports
    fleet_cluster.update(SIM_API="0.3", SIM_START_DELAY="30,30")
    code, err = interrupted_fan_out(fleet_cluster, opened, 1)
    assert code == 130, err
    time.sleep(0.5)   # a patch sent after the interruption would land by now
    added = [k for k, n in containers_per_pod(fleet_cluster).items() if n]
    assert 1 <= len(added) <= 2 and all("(pod %s)" % k in err for k in added), err


def test_a_mesh_sidecar_is_warned_about_and_bypassed_on_request(cluster, ports):
    opened, _ = ports
    pods_file = os.path.join(cluster["SIM_STATE"], "pods.json")
    pods = json.loads(open(pods_file).read())
    pods["default/web"]["spec"]["containers"].append({"name": "istio-proxy", "image": "istio/proxyv2:1.24"})
    with open(pods_file, "w") as f:
        json.dump(pods, f)
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "-o", "json")
    assert r.returncode == 0, r.stderr
    (warning,) = json.loads(r.stdout)["warnings"]
    assert warning.startswith("the pod runs a service-mesh sidecar (istio-proxy), which answers TCP connects itself")
    text = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "--bypass-mesh")
    assert text.stdout.splitlines()[-1].startswith("warning: the probe runs as UID 1337 (--bypass-mesh)")
    added = json.loads(open(pods_file).read())["default/web"]["spec"]["ephemeralContainers"]
    assert [c["securityContext"]["runAsUser"] for c in added] == [65534, 1337]
