"""The pure parts of the other ways to reach: reuse agents, copies, node pods, and their flags."""
import json
import subprocess

import pytest

from conftest import fixture_calls
from lib import agents, cli, container, newpods, probe
from lib.errors import UsageError
from lib.targets import Target


def real_pod():
    return json.loads(fixture_calls("open")[0]["stdout"])   # as the API server returned it


def probe_spec(name="reach-abcde", **extra):
    return container.build(container.Spec(name, "busybox:1.36", "IfNotPresent", [Target("db", 5432)], 3.0, **extra))


# -- reuse agents ---------------------------------------------------------------------------

def test_an_agent_runs_the_probe_then_idles_and_keeps_user_input_out_of_its_script():
    one_shot = probe_spec()["command"]
    cmd = agents.command(one_shot, 600)
    assert cmd[:2] == ["sh", "-c"] and cmd[3:5] == ["reach-agent", "600"]
    assert cmd[5:] == one_shot[4:]                 # WAIT and the targets, as positional parameters
    assert probe.SCRIPT in cmd[2] and "db" not in cmd[2]
    assert agents.is_agent({"command": cmd}) and not agents.is_agent({"command": one_shot})


def test_an_agent_prints_the_probes_lines_then_ends_after_its_keep_alive(tmp_path):
    # the real script in sh, with a keep-alive of 0: the idle loop ends at its first look
    cmd = agents.command(["sh", "-c", probe.SCRIPT, "reach", "1"], 0)
    script = cmd[2]
    r = subprocess.run(["sh", "-c", script] + cmd[3:], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.splitlines() == ["reach[done] 0"]


def with_agents(*entries):
    """A real pod holding ephemeral containers (spec, running?)."""
    pod = real_pod()
    pod["spec"]["ephemeralContainers"] = [c for c, _ in entries]
    pod["status"]["ephemeralContainerStatuses"] = [
        {"name": c["name"], "state": {"running": {}} if up else {"terminated": {"exitCode": 0}}} for c, up in entries]
    return pod


def agent(name, **extra):
    spec = probe_spec(name, **extra)
    spec["command"] = agents.command(spec["command"], 600)
    return spec


def test_the_newest_running_agent_with_the_same_image_and_settings_is_found():
    wanted = probe_spec("reach-new")
    pod = with_agents((agent("reach-old"), True), (agent("reach-mid"), True), (agent("reach-gone"), False),
                      (probe_spec("reach-oneshot"), True))
    assert agents.find(pod, wanted) == "reach-mid"


@pytest.mark.parametrize("differs", [dict(image="nicolaka/netshoot:v0.13"), dict(target_container="nginx"),
                                     dict(run_as_user=1337)])
def test_an_agent_that_runs_otherwise_is_not_reused(differs):
    image = differs.pop("image", "busybox:1.36")
    other = container.build(container.Spec("reach-a", image, "IfNotPresent", [Target("db", 5432)], 3.0, **differs))
    other["command"] = agents.command(other["command"], 600)
    assert agents.find(with_agents((other, True)), probe_spec("reach-new")) is None


def test_exec_into_an_agent_marks_it_used_until_the_probes_budget_has_passed(tmp_path):
    one_shot = probe_spec()["command"]
    cmd = agents.exec_command(one_shot, 93)
    assert cmd[:2] == ["sh", "-c"] and cmd[3:5] == ["reach-exec", "93"] and cmd[5:] == one_shot
    # the real script, its file moved: the mark lies 93 s ahead, then the probe command runs
    import os
    import time
    mark = tmp_path / "termination-log"
    mark.write_text("")
    script = cmd[2].replace("/dev/termination-log", str(mark))
    for shell in ("sh", "busybox"):
        argv = [shell, "-c", script] if shell == "sh" else ["busybox", "sh", "-c", script]
        if shell == "busybox" and not __import__("shutil").which("busybox"):
            continue
        r = subprocess.run(argv + ["reach-exec", "93", "echo", "probed"], capture_output=True, text=True, timeout=10)
        assert r.stdout == "probed\n" and 90 <= os.path.getmtime(mark) - time.time() <= 94, (shell, r.stderr)


@pytest.mark.parametrize("stderr,gone", [
    ('error: unable to upgrade connection: container not found ("reach-x")', True),
    ("error: Internal error occurred: error executing command in container: container is not created or running",
     True),
    ('Error from server (NotFound): pods "web" not found', True),
    ('Error from server (Forbidden): pods "web" is forbidden: User "u" cannot create resource "pods/exec"', False),
])
def test_what_says_an_agent_is_gone(stderr, gone):
    assert agents.is_gone(stderr) is gone


# -- copies ---------------------------------------------------------------------------------

def test_a_copy_keeps_labels_but_cannot_be_adopted_or_sent_traffic():
    pod = real_pod()
    pod["metadata"]["labels"] = {"app": "web"}
    pod["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1",
                                           "uid": "u-rs", "controller": True}]
    pod["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"port": 80}}
    pod["spec"]["priority"] = 0
    pod["spec"]["ephemeralContainers"] = [probe_spec("reach-old")]
    copy = newpods.copy_of(pod, probe_spec(target_container="nginx"), "web-probe")
    meta, spec = copy["metadata"], copy["spec"]
    assert meta["name"] == "web-probe" and meta["namespace"] == pod["metadata"]["namespace"]
    assert meta["labels"] == {"app": "web"}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                                        "uid": pod["metadata"]["uid"], "controller": True}]
    assert meta["annotations"][newpods.COPY_OF] == pod["metadata"]["name"]
    assert {"conditionType": newpods.NEVER_READY} in spec["readinessGates"]
    assert spec["restartPolicy"] == "Never"
    assert "nodeName" not in spec and "priority" not in spec and "ephemeralContainers" not in spec
    assert "readinessProbe" not in spec["containers"][0]
    assert spec["containers"][-1]["name"] == "reach-abcde" and "targetContainerName" not in spec["containers"][-1]
    assert "status" not in copy and "uid" not in meta and "resourceVersion" not in meta
    assert "readinessProbe" in pod["spec"]["containers"][0]   # the original is untouched


def test_copy_options():
    pod = real_pod()
    copy = newpods.copy_of(pod, probe_spec(), "c", isolate=True, same_node=True, share_processes=True)
    assert copy["metadata"]["labels"] == newpods.MANAGED_BY
    assert copy["spec"]["nodeName"] == pod["spec"]["nodeName"] and copy["spec"]["shareProcessNamespace"] is True


# -- node pods ------------------------------------------------------------------------------

def test_a_node_pod_is_on_the_hosts_network_and_tolerates_every_taint():
    node = {"metadata": {"name": "lab-node"}, "spec": {"taints": [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "db", "effect": "NoExecute"},
        {"key": "dedicated", "value": "db", "effect": "NoExecute"}]}}
    pod = newpods.node_pod(node, probe_spec(), "reach-abcde", "ops")
    spec = pod["spec"]
    assert spec["nodeName"] == "lab-node" and spec["hostNetwork"] is True and spec["restartPolicy"] == "Never"
    assert spec["tolerations"] == [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]
    assert pod["metadata"]["labels"] == newpods.MANAGED_BY and pod["metadata"]["namespace"] == "ops"
    assert spec["automountServiceAccountToken"] is False


def ns(name, level=None):
    return {"metadata": {"name": name, "labels": {newpods.PSA_ENFORCE: level} if level else {}}}


def test_which_namespaces_admit_host_networking():
    assert [newpods.allows_host_network(newpods.enforced_level(ns("x", level))) for level in
            ("privileged", "baseline", "restricted", None)] == [True, False, False, None]
    found = newpods.host_network_namespaces([ns("shop", "restricted"), ns("default"), ns("ops", "privileged")])
    assert found == ["ops", "default"]


# -- flags ----------------------------------------------------------------------------------

def args_for(*argv):
    return cli.build_parser("reach").parse_args(list(argv))


@pytest.mark.parametrize("argv,message", [
    (["web", "--to", "db:1", "--isolate"], "--isolate goes with --copy-to NAME"),
    (["web", "--to", "db:1", "--keep"], "--keep goes with --copy-to NAME or node/NAME"),
    (["web", "--to", "db:1", "--keep-alive", "5m"], "--keep-alive goes with --reuse"),
    (["node/", "--to", "db:1"], "names no node"),
    (["node/n1", "--to", "db:1", "--copy-to", "x"], "give one"),
    (["node/n1", "--to", "db:1", "--reuse"], "--reuse does not go with node/NAME"),
    (["node/n1", "--to", "db:1", "--target", "app"], "--target does not go with node/NAME"),
    (["web", "--to", "db:1", "--copy-to", "Web_Copy"], "not a valid pod name"),
    (["web", "--to", "db:1", "--copy-to", "c", "--reuse"], "--reuse does not go with --copy-to"),
    (["web", "--to", "db:1", "--copy-to", "c", "--patch-type", "replace"], "--patch-type does not go with --copy-to"),
    (["web", "--to", "db:1", "--copy-to="], "--copy-to needs a name"),
    (["web", "--to", "db:1", "--copy-to", "web"], "names the pod itself"),
    (["pod/web", "--to", "db:1", "--copy-to", "web"], "names the pod itself"),
    (["web", "--to", "db:1", "--copy-to", "c", "--target", "app"], "--share-processes shares all of them"),
])
def test_flags_that_do_not_go_together(argv, message):
    with pytest.raises(UsageError) as e:
        cli.pod_mode(args_for(*argv))
    assert message in e.value.message


def test_modes_from_flags():
    assert cli.pod_mode(args_for("web", "--to", "db:1")) is None
    mode = cli.pod_mode(args_for("web", "--to", "db:1", "--copy-to", "web-probe", "--isolate", "--keep"))
    assert (mode.copy_to, mode.isolate, mode.keep, mode.node) == ("web-probe", True, True, "")
    assert cli.pod_mode(args_for("no/lab-node", "--to", "db:1")).node == "lab-node"
    request = cli.make_request(args_for("web", "--to", "db:1", "--reuse", "--keep-alive", "1m"), {})
    assert request.reuse and request.keep_alive == 60


@pytest.mark.parametrize("seconds,text", [(600, "10m"), (90, "1m30s"), (5, "5s"), (0, "0s"), (3600, "60m")])
def test_keep_alive_as_the_flag_takes_it(seconds, text):
    assert agents.duration_text(seconds) == text


# -- print and lint the pods reach creates --------------------------------------------------

def test_print_patch_with_copy_to_prints_the_copy_and_lint_checks_it_as_a_pod_to_create(tmp_path):
    import io
    import os

    from conftest import ROOT
    from lib import lint
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["web-open", "--to", "127.0.0.1:80", "--copy-to", "web-reach", "--print-patch", "--name",
                     "reach-ci", "--pod-file", os.path.join(ROOT, "tests", "golden", "pod.json")], out, err, {})
    assert code == 0, err.getvalue()
    body = json.loads(out.getvalue())
    assert body["metadata"]["name"] == "web-reach" and body["spec"]["containers"][-1]["name"] == "reach-ci"
    assert lint.lint(body, "copy.json", None, level="baseline") == []
    restricted = lint.lint(body, "copy.json", None, level="restricted")
    assert restricted and all('container "nginx"' in f.message for f in restricted)   # the app's, not reach's


def test_lint_says_a_node_pod_needs_a_privileged_namespace():
    from lib import lint
    body = newpods.node_pod({"metadata": {"name": "n1"}}, probe_spec(), "reach-abcde", "ops")
    (finding,) = lint.lint(body, "node.json", None, level="baseline")
    assert finding.message == 'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)'
    assert lint.lint(body, "node.json", None, level="privileged") == []


def test_a_pod_named_node_is_a_pod():
    assert cli.pod_mode(args_for("node", "--to", "db:1")) is None
    assert cli.make_request(args_for("node", "--to", "db:1"), {}).pod == "node"


def test_keep_alive_below_a_second_is_refused():
    with pytest.raises(UsageError) as e:
        cli.make_request(args_for("web", "--to", "db:1", "--reuse", "--keep-alive", "500ms"), {})
    assert "at least 1s" in e.value.message


def test_lint_of_a_pod_to_create_checks_what_the_pod_holds():
    from lib import lint
    pod = real_pod()
    pod["metadata"]["annotations"] = {newpods.COPY_OF: "web"}
    pod["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/var/run"}})
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    pod["spec"]["securityContext"] = {"sysctls": [{"name": "net.core.somaxconn", "value": "1024"},
                                                  {"name": "net.ipv4.tcp_syncookies", "value": "1"}]}
    messages = [f.message for f in lint.lint(pod, "copy.json", None, level="baseline")]
    assert messages == ['violates PodSecurity "baseline:latest": hostPath volumes (volume "h")',
                        'violates PodSecurity "baseline:latest": hostPort (container "nginx" uses hostPort 8080)',
                        'violates PodSecurity "baseline:latest": forbidden sysctls (net.core.somaxconn)']
    restricted = [f.message for f in lint.lint(pod, "copy.json", None, level="restricted")]
    assert 'violates PodSecurity "restricted:latest": restricted volume types (volume "h" uses restricted volume ' \
           'type "hostPath")' in restricted
