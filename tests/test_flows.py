"""The whole tool, run as a user runs it, against real recorded kubectl answers."""
import json

import pytest

from conftest import fixture_calls


def kinds(calls):
    """What each kubectl call was, in the order they arrived."""
    def kind(argv):
        if argv[0] == "get":
            return "watch" if "--watch" in argv else "poll" if argv[-1].startswith("jsonpath") else "get"
        return argv[0]
    return [kind(c["argv"]) for c in calls]


def test_open_target(reach):
    r = reach("open")
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == "✓ 127.0.0.1:18080 open"
    assert "ephemeral container reach-tddwm (busybox:1.36)" in r.out
    assert "from pod default/web-open on node lab-node" in r.out
    assert "adding ephemeral container reach-tddwm" in r.err
    # five kubectl processes: the pod's read, the patch in its two forms sent beside it (appending to
    # the pod's list of ephemeral containers, and adding the list: one applies), the watch, the log
    assert sorted(kinds(r.calls)) == ["get", "logs", "patch", "patch", "watch"]
    assert kinds(r.calls)[-1] == "logs"


def test_patch_carries_one_restricted_container_with_the_targets_as_parameters(reach):
    r = reach("multi")
    patches = [c for c in r.calls if c["argv"][0] == "patch"]
    # both kubectl processes start while the pod is read, and take their body on stdin
    assert [c["argv"] for c in patches] == 2 * [["patch", "pod", "web-multi", "-n", "default",
                                                 "--subresource=ephemeralcontainers", "--type=json", "--patch-file",
                                                 "/dev/stdin"]]
    ops = sorted((json.loads(c["stdin"]) for c in patches), key=lambda o: o[1]["path"])
    running = {"op": "test", "path": "/status/phase", "value": "Running"}
    assert [o[0] for o in ops] == [running, running]   # a pod that is not Running gets nothing
    # one appends to the pod's list, the other adds the list: the one that fits the pod applies
    assert [(o[1]["op"], o[1]["path"]) for o in ops] == [("add", "/spec/ephemeralContainers"),
                                                         ("add", "/spec/ephemeralContainers/-")]
    assert ops[0][1]["value"] == [ops[1][1]["value"]]
    container = ops[1][1]["value"]
    assert container["name"] == "reach-hox3d"
    assert container["image"] == "busybox:1.36" and container["imagePullPolicy"] == "IfNotPresent"
    assert container["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65534, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]},
                                            "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["command"][:2] == ["sh", "-c"]
    assert container["command"][3:] == ["reach", "3", "tcp", "127.0.0.1", "18080", "tcp", "127.0.0.1", "18081",
                                        "tcp", "no-such-host.invalid", "80"]
    assert "no-such-host" not in container["command"][2]


@pytest.mark.parametrize("name, line, code", [
    ("refused", "✗ 127.0.0.1:18081 refused", 1),
    ("timeout", "✗ 127.0.0.1:18082 timeout", 1),
    ("dns", "✗ no-such-host.invalid:80 dns (nc: bad address 'no-such-host.invalid')", 1),
    ("restricted-ok", "✓ 127.0.0.1:18080 open", 0),
])
def test_single_target_verdicts(reach, name, line, code):
    r = reach(name)
    assert r.code == code, r.err
    assert r.out.splitlines()[0] == line


def test_a_running_container_is_followed(reach):
    follow = reach("refused")
    assert ["logs", "-f"] == next(c["argv"][:2] for c in follow.calls if c["argv"][0] == "logs")


def test_a_terminated_container_is_read(reach):
    read = reach("dns")
    assert ["logs", "web-dns"] == next(c["argv"][:2] for c in read.calls if c["argv"][0] == "logs")


def test_the_recorded_watch(reach):
    r = reach("watch")
    assert r.code == 0 and r.out.startswith("✓ 127.0.0.1:18080 open")
    assert sorted(kinds(r.calls)) == ["get", "logs", "patch", "patch", "watch"]


def test_multi_target_one_container_one_line_each(reach):
    r = reach("multi")
    assert r.code == 1
    assert r.out.splitlines()[:3] == ["✓ 127.0.0.1:18080 open", "✗ 127.0.0.1:18081 refused",
                                      "✗ no-such-host.invalid:80 dns (nc: bad address 'no-such-host.invalid')"]
    # one container for the three targets (the patch's two forms carry the same one)
    bodies = [json.loads(c["stdin"])[1]["value"] for c in r.calls if c["argv"][0] == "patch"]
    assert len({json.dumps(b if isinstance(b, dict) else b[0], sort_keys=True) for b in bodies}) == 1


def test_json_output(reach):
    r = reach("multi", "-o", "json")
    doc = json.loads(r.out)
    assert doc["pod"] == "web-multi" and doc["namespace"] == "default" and doc["node"] == "lab-node"
    assert doc["container"] == "reach-hox3d" and doc["image"] == "busybox:1.36"
    assert [(t["target"], t["verdict"]) for t in doc["targets"]] == [
        ("127.0.0.1:18080", "open"), ("127.0.0.1:18081", "refused"), ("no-such-host.invalid:80", "dns")]
    assert doc["targets"][2]["raw"] == "nc: bad address 'no-such-host.invalid'"
    assert doc["exitCode"] == 1 and doc["reachable"] is False
    assert set(doc["timings"]) == {"get_ms", "add_ms", "start_ms", "probe_ms", "total_ms"}
    assert doc["kubectlCalls"] == len(r.calls)


def test_yaml_output(reach):
    yaml = pytest.importorskip("yaml")
    r = reach("open", "-o", "yaml")
    doc = yaml.safe_load(r.out)
    assert doc["targets"][0]["verdict"] == "open" and doc["exitCode"] == 0


@pytest.mark.parametrize("name, image, verdicts, via", [
    ("image-debian-busybox", "lab/debian-busybox:1.35", ["open", "refused"], "nc"),
    ("image-netshoot", "nicolaka/netshoot:v0.13", ["open", "refused"], "nc-z"),
    ("image-bash-only", "debian:bookworm-slim", ["open", "refused"], "bash"),
])
def test_probe_images(reach, name, image, verdicts, via):
    r = reach(name, "-o", "json")
    doc = json.loads(r.out)
    assert doc["image"] == image
    assert [t["verdict"] for t in doc["targets"]] == verdicts
    assert {t["via"] for t in doc["targets"]} == {via}
    assert r.code == 1


def test_image_pull_failure_fails_fast(reach):
    r = reach("image-pull-failure")
    assert r.code == 4
    assert r.out == ""
    assert "could not start: ErrImagePull" in r.err
    assert "registry.invalid/doesnotexist:1" in r.err
    assert "imagePullSecrets" in r.err
    assert sorted(kinds(r.calls)) == ["get", "patch", "patch", "watch"]  # the watch's first ErrImagePull ends it


def test_start_error_names_the_message(reach):
    r = reach("start-error")
    assert r.code == 4
    assert "StartError" in r.err and 'exec: \\"curl\\": executable file not found' in r.err or \
        'executable file not found' in r.err
    assert "busybox:1.36" in r.err


def test_pending_pod_is_refused_and_gets_nothing(reach):
    r = reach("pod-pending")
    assert r.code == 3
    assert r.err.strip() == ('error: pod "web-pod-pending" in namespace "default" is Pending, not Running: '
                             'it is not scheduled to a node yet; wait for it (kubectl wait --for=condition=Ready '
                             'pod/web-pod-pending -n default) and try again')
    # the patch sent beside the read tests the phase first, in both its forms: nothing applies
    assert sorted(kinds(r.calls)) == ["get", "patch", "patch"]
    for patch in (c for c in r.calls if c["argv"][0] == "patch"):
        assert json.loads(patch["stdin"])[0] == {"op": "test", "path": "/status/phase", "value": "Running"}
    assert "stays in the pod" not in r.err


@pytest.mark.parametrize("name", ["old-kubectl", "old-kubectl-131"])
def test_old_kubectl_falls_back_to_replace_raw(reach, name):
    r = reach(name)
    assert r.code == 0, r.err
    assert r.out.startswith("✓ 127.0.0.1:18080 open")
    order = [k for k in kinds(r.calls) if k != "watch"]
    # both patches fail in the client; the PUT follows them
    assert sorted(order[:3]) == ["get", "patch", "patch"] and order[3:] == ["replace", "logs"]
    assert len(r.calls) == 6
    replace = next(c for c in r.calls if c["argv"][0] == "replace")
    assert replace["argv"] == ["replace", "--raw", "/api/v1/namespaces/default/pods/web-old-kubectl/ephemeralcontainers",
                               "-f", "-"]
    body = json.loads(replace["stdin"])
    assert body["metadata"]["resourceVersion"] == "826"  # the pod as read, plus one container
    assert [c["name"] for c in body["spec"]["ephemeralContainers"]] == ["reach-lhoev"]


def test_conflict_is_retried_with_a_fresh_pod(reach):
    r = reach("conflict")
    assert r.code == 0, r.err
    order = [k for k in kinds(r.calls) if k != "watch"]
    assert sorted(order[:3]) == ["get", "patch", "patch"] and order[3:] == ["replace", "get", "replace", "logs"]
    replaces = [json.loads(c["stdin"]) for c in r.calls if c["argv"][0] == "replace"]
    assert replaces[0]["metadata"]["resourceVersion"] == "833"
    assert replaces[1]["metadata"]["resourceVersion"] == "835"
    assert [c["name"] for c in replaces[1]["spec"]["ephemeralContainers"]] == ["reach-rlk99", "reach-b9tvu"]


def test_logs_too_early_waits_and_reads_again(reach):
    r = reach("logs-too-early")
    assert r.code == 0, r.err
    assert r.out.startswith("✓ 127.0.0.1:18080 open")
    order = [k for k in kinds(r.calls) if k != "watch"]
    assert sorted(order[:3]) == ["get", "patch", "patch"] and order[3:] == ["logs", "poll", "logs"]


@pytest.mark.parametrize("name, message, code", [
    ("not-found-pod", 'error: pod "nope" not found in namespace "default"; check the name with kubectl get pods -n default', 3),
    ("not-found-namespace", 'error: namespace "no-such-namespace" not found; check -n (kubectl get namespaces) or --context', 3),
    ("forbidden-viewer", 'error: forbidden: user "viewer" cannot get pods in namespace "default"; reach needs: '
                         'get (and watch) pods; get and patch pods/ephemeralcontainers (update with kubectl < 1.32); '
                         'get pods/log', 3),
    ("forbidden-reader", 'error: forbidden: user "reader" cannot get pods/ephemeralcontainers in namespace "default"; '
                         'kubectl reads pods/ephemeralcontainers before it writes, so the API names get first: '
                         'ask for get and patch on pods/ephemeralcontainers (get and update with kubectl < 1.32)', 3),
])
def test_kubernetes_errors_are_one_line(reach, name, message, code):
    r = reach(name)
    assert r.code == code
    assert r.err.strip().splitlines()[-1] == message
    assert "Traceback" not in r.err
    assert r.out == ""


def test_pod_security_rejection_quotes_the_rules(reach):
    r = reach("restricted-rejected")
    assert r.code == 3
    last = r.err.strip().splitlines()[-1]
    assert last.startswith('error: PodSecurity "restricted:latest" of namespace "restricted" rejected the ephemeral '
                           'container: allowPrivilegeEscalation != false')
    assert "ask an admin" in last


def test_pod_security_names_an_earlier_noncompliant_container(reach):
    r = reach("restricted-earlier-container")
    assert r.code == 3
    assert "the pod already holds non-compliant container(s) reach-t0uzw" in r.err
    assert "no ephemeral container can be added to it" in r.err


def test_invalid_container_is_explained(reach):
    r = reach("invalid-name")
    assert r.code == 3
    assert "the API server rejected the ephemeral container: spec.ephemeralContainers[0].name: Invalid value" in r.err


def test_machine_output_on_error_is_a_document(reach):
    r = reach("not-found-pod", "-o", "json")
    doc = json.loads(r.out)
    assert doc["error"]["reason"] == "PodNotFound" and doc["exitCode"] == 3


def test_verbose_shows_each_kubectl_command(reach):
    r = reach("open", "-v")
    assert "+ kubectl get pod web-open -n default -o json" in r.err
    assert r.err.count("+ kubectl ") == len(r.calls)


def test_record_mode_writes_replayable_calls(reach, tmp_path, monkeypatch):
    record = tmp_path / "rec"
    monkeypatch.setenv("REACH_RECORD", str(record))
    r = reach("open")
    (path,) = list(record.iterdir())
    recorded = [json.loads(l) for l in path.read_text().splitlines()]
    assert sorted(c["argv"] for c in recorded) == sorted(c["argv"] for c in r.calls)  # a watch is written when it ends
    logs = next(c for c in recorded if c["argv"][0] == "logs")
    assert logs["stdout"] == fixture_calls("open")[-1]["stdout"] and "chunks" in logs
    assert {"argv", "stdin", "stdout", "stderr", "exit", "started", "duration"} <= set(recorded[0])


@pytest.mark.parametrize("name, message", [
    ("no-cluster", "error: cannot reach the Kubernetes API server: The connection to the server localhost:8080 was "
                   "refused - did you specify the right host or port?; check your context (kubectl config "
                   "current-context), VPN, --kubeconfig or --context"),
    ("no-cluster-context-namespace", "error: cannot reach the Kubernetes API server: The connection to the server "
                                     "localhost:8080 was refused - did you specify the right host or port?; check "
                                     "your context (kubectl config current-context), VPN, --kubeconfig or --context"),
    ("no-context", 'error: context "nope" not found in your kubeconfig; list contexts with kubectl config get-contexts'),
])
def test_kubectl_configuration_errors_recorded_with_the_real_kubectl(reach, name, message):
    r = reach(name)
    assert r.code == 3
    assert r.err.strip().splitlines()[-1] == message


def test_cluster_without_ephemeral_containers(reach):
    r = reach("unsupported-cluster")
    assert r.code == 3
    assert r.err.strip().splitlines()[-1] == (
        "error: this cluster does not serve pods/ephemeralcontainers; ephemeral containers need Kubernetes 1.25 or "
        "newer (1.23-1.24 only with the EphemeralContainers feature gate)")
