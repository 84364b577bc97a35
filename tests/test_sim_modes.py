"""The simulated cluster itself (tests/sim/kubectl), called as a subprocess: created pods and their
containers, exec, delete, nodes and namespaces, PodSecurity admission, and cleaning up after.

Every test's cluster is shut down at the end (`kubectl __sim-shutdown`), which kills whatever its
containers and execs still run; test_shutdown_* checks that it does.
"""
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, fixture_calls

SIM = os.path.join(ROOT, "tests", "sim", "kubectl")
pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="the simulated node's processes are found in /proc")


class Cluster:
    def __init__(self, state, env):
        self.state, self.env = state, env

    def run(self, *args, stdin=None, **env):
        return subprocess.run([sys.executable, SIM] + list(args), input=stdin, env=dict(self.env, **env),
                              capture_output=True, text=True, timeout=30)

    def start(self, *args, **env):
        return subprocess.Popen([sys.executable, SIM] + list(args), env=dict(self.env, **env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def create(self, pod, *args, **env):
        return self.run("create", "-f", "-", "-o", "json", *args, stdin=json.dumps(pod), **env)

    def get(self, name, ns="default"):
        r = self.run("get", "pod", name, "-n", ns, "-o", "json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def until(self, name, test, ns="default", timeout=5.0):
        """The pod once test(pod) holds (polled, as a tool polls)."""
        deadline = time.time() + timeout
        while True:
            pod = self.get(name, ns)
            if test(pod):
                return pod
            assert time.time() < deadline, "pod %s never got there: %s" % (name, json.dumps(pod["status"]))
            time.sleep(0.02)

    def objects(self, *items):
        (self.state / "objects.json").write_text(json.dumps(list(items)))

    def pods_file(self):
        return json.loads((self.state / "pods.json").read_text())

    def gone(self, within=5.0):
        """Whether every process of this cluster's node has ended within `within` seconds (they are
        signalled at once; a loaded machine takes a moment to end them)."""
        deadline = time.time() + within
        while self.processes() and time.time() < deadline:
            time.sleep(0.05)
        return self.processes() == []

    def processes(self):
        """The live processes this cluster's node started (they carry SIM_NODE=<state>)."""
        mark = ("SIM_NODE=%s" % self.state).encode()
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open("/proc/%s/environ" % entry, "rb") as f:
                    if mark in f.read().split(b"\0"):
                        found.append(int(entry))
            except (OSError, ValueError):
                continue
        return found


@pytest.fixture
def cluster(tmp_path):
    state = tmp_path / "cluster"
    state.mkdir()
    (state / "pods.json").write_text("{}")
    tools = tmp_path / "tools"
    tools.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    env.update(SIM_STATE=str(state), SIM_TOOLS=str(tools), SIM_START_DELAY="0,0.05", PYTHONIOENCODING="utf-8")
    c = Cluster(state, env)
    yield c
    c.run("__sim-shutdown")


def pod(name, *containers, ns=None, **spec):
    meta = {"name": name, "labels": {"app": "probe"}}
    if ns:
        meta["namespace"] = ns
    containers = containers or ({"name": "main", "image": "busybox:1.36"},)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": dict(spec, containers=list(containers))}


def container(name, *command, **more):
    c = {"name": name, "image": "busybox:1.36"}
    if command:
        c["command"] = list(command)
    c.update(more)
    return c


def state_of(p, name):
    return next(s for s in p["status"].get("containerStatuses") or [] if s["name"] == name)["state"]


def condition(p, kind):
    return next(c for c in p["status"]["conditions"] if c["type"] == kind)


WORKER = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker", "labels": {"kubernetes.io/os": "linux"}},
          "spec": {}}
TOLERATE_CONTROL_PLANE = [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


class Lines:
    """A process's stdout line by line, each within a deadline (no read blocks for ever)."""

    def __init__(self, proc):
        self.proc, self.buffer, self.seen = proc, b"", []

    def until(self, test, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                self.seen.append(line.decode())
                if test(self.seen[-1]):
                    return self.seen[-1]
            left = deadline - time.time()
            assert left > 0, "no such line within %ss; got %s" % (timeout, self.seen)
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, "the process ended; got %s, stderr %s" % (self.seen, self.proc.stderr.read())
                self.buffer += chunk


def group_states(groups):
    """The states (R, S, Z...) of the processes in these process groups."""
    states = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) in groups:
            states.append(fields[0].decode())
    return states


def stop(proc):
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()


# --- create -----------------------------------------------------------------------------------

def test_create_prints_the_pod_as_stored_and_it_runs_once_scheduled(cluster):
    cluster.objects(WORKER)
    r = cluster.create(pod("agent"))
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    meta = created["metadata"]
    assert meta["namespace"] == "default" and re.match(r"^[0-9a-f-]{36}$", meta["uid"])
    assert meta["resourceVersion"].isdigit() and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", meta["creationTimestamp"])
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert "nodeName" not in created["spec"]                                   # bound after the answer
    assert created["spec"]["restartPolicy"] == "Always"                        # the API server's defaults
    assert created["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    assert "_sim" not in json.dumps(created)
    assert list(cluster.pods_file()) == ["default/agent"]
    running = cluster.until("agent", lambda p: p["status"]["phase"] == "Running")
    assert running["spec"]["nodeName"] == "worker"
    assert (running["status"]["podIP"], running["status"]["hostIP"]) == ("127.0.0.1", "127.0.0.1")
    assert condition(running, "Ready")["status"] == "True" and condition(running, "PodScheduled")["status"] == "True"
    assert state_of(running, "main")["running"]["startedAt"].endswith("Z")


def test_create_takes_the_namespace_from_n_or_from_the_body(cluster):
    cluster.objects(WORKER, namespace("shop"))
    assert cluster.create(pod("a"), "-n", "shop").returncode == 0
    assert cluster.create(pod("b", ns="shop")).returncode == 0
    assert cluster.create(pod("c", ns="shop"), "-n", "shop").returncode == 0
    assert sorted(cluster.pods_file()) == ["shop/a", "shop/b", "shop/c"]
    r = cluster.create(pod("d", ns="shop"), "-n", "default")
    assert r.returncode == 1
    assert r.stderr == ("error: the namespace from the provided object \"shop\" does not match the namespace "
                        "\"default\". You must pass '--namespace=shop' to perform this operation.\n")
    r = cluster.create(pod("e"), "-n", "nowhere")
    assert r.stderr == 'Error from server (NotFound): error when creating "STDIN": namespaces "nowhere" not found\n'


def test_create_refuses_as_the_api_server_does(cluster):
    assert cluster.create(pod("agent")).returncode == 0
    again = cluster.create(pod("agent"))
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == 'Error from server (AlreadyExists): error when creating "STDIN": pods "agent" already exists\n'
    denied = cluster.create(pod("other"), "-n", "default", SIM_DENY_CREATE="1")
    assert denied.stderr == ('Error from server (Forbidden): error when creating "STDIN": pods is forbidden: User "sim" '
                             'cannot create resource "pods" in API group "" in the namespace "default"\n')
    imageless = cluster.create(pod("bad", {"name": "main"}))
    assert imageless.stderr == 'The Pod "bad" is invalid: spec.containers[0].image: Required value\n'
    assert list(cluster.pods_file()) == ["default/agent"]


def test_pod_security_admission_rejects_host_namespaces_in_a_baseline_namespace(cluster):
    enforce = "pod-security.kubernetes.io/enforce"
    cluster.objects(WORKER, namespace("base", **{enforce: "baseline"}), namespace("strict", **{enforce: "restricted"}),
                    namespace("warned", **{"pod-security.kubernetes.io/warn": "restricted"}))
    r = cluster.create(pod("hn", ns="base", hostNetwork=True))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ('Error from server (Forbidden): error when creating "STDIN": pods "hn" is forbidden: violates '
                        'PodSecurity "baseline:latest": host namespaces (hostNetwork=true)\n')
    ported = pod("hp", container("main", ports=[{"containerPort": 8080}]), ns="base", hostNetwork=True, hostPID=True)
    assert cluster.create(ported).stderr.endswith(   # under hostNetwork the hostPort defaults to the containerPort
        'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostPID=true), '
        'hostPort (container "main" uses hostPort 8080)\n')
    plain = cluster.create(pod("plain", ns="strict"))
    assert plain.stderr.endswith(
        'pods "plain" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "main" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
        '(container "main" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container '
        '"main" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "main" must set '
        'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")\n')
    locked_down = pod("ok", container("main", securityContext={"allowPrivilegeEscalation": False,
                                                               "capabilities": {"drop": ["ALL"]}}),
                      ns="strict", securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}})
    assert cluster.create(locked_down).returncode == 0
    warned = cluster.create(pod("hn", ns="warned", hostNetwork=True))
    assert warned.returncode == 0 and warned.stderr.startswith(
        'Warning: would violate PodSecurity "restricted:latest": host namespaces (hostNetwork=true), '
        'allowPrivilegeEscalation != false')
    assert sorted(cluster.pods_file()) == ["strict/ok", "warned/hn"]


def test_the_scheduler_respects_taints_and_a_missing_node_leaves_the_pod_pending(cluster):
    assert cluster.create(pod("plain")).returncode == 0           # the default node: control-plane, tainted
    assert cluster.create(pod("tolerant", tolerations=TOLERATE_CONTROL_PLANE)).returncode == 0
    assert cluster.create(pod("lost", nodeName="ghost")).returncode == 0
    tolerant = cluster.until("tolerant", lambda p: p["status"]["phase"] == "Running")
    assert tolerant["spec"]["nodeName"] == "sim-node"
    plain = cluster.get("plain")
    assert plain["status"]["phase"] == "Pending" and "nodeName" not in plain["spec"]
    assert condition(plain, "PodScheduled") == {
        "lastProbeTime": None, "lastTransitionTime": plain["metadata"]["creationTimestamp"], "status": "False",
        "type": "PodScheduled", "reason": "Unschedulable",
        "message": "0/1 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. "
                   "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."}
    lost = cluster.get("lost")
    assert lost["status"] == {"phase": "Pending", "qosClass": "BestEffort"}   # no kubelet ever reports on it


def test_the_nodes_recorded_pods_are_on_exist_untainted_and_take_plain_pods(cluster):
    recorded = json.loads(fixture_calls("open")[0]["stdout"])      # bound to lab-node where it was recorded
    (cluster.state / "pods.json").write_text(json.dumps({"default/web": recorded}))
    listed = cluster.run("get", "nodes", "-o", 'jsonpath={.items[*].metadata.name}{" "}{.items[1].spec}')
    assert listed.stdout == "sim-node lab-node {}"
    assert cluster.create(pod("copy")).returncode == 0
    assert cluster.until("copy", lambda p: p["status"]["phase"] == "Running")["spec"]["nodeName"] == "lab-node"
    assert cluster.run("create", "-f", "-", stdin=json.dumps(pod("named"))).stdout == "pod/named created\n"
    assert cluster.run("create", "-f", "-", "-o", "name", stdin=json.dumps(pod("short"))).stdout == "pod/short\n"
    r = cluster.run("get", "pod", "copy", "-o", "jsonpath={.status.containerStatuses[*].name} {..podIP} "
                    '{.spec.tolerations[?(@.effect!="NoSchedule")].key}')
    assert r.stdout == "main 127.0.0.1 node.kubernetes.io/not-ready node.kubernetes.io/unreachable"


# --- containers of created pods ------------------------------------------------------------------

def test_a_command_runs_on_the_node_and_restart_policy_never_keeps_it_terminated(cluster):
    cluster.objects(WORKER)
    failing = container("main", "sh", "-c", "echo out; echo err >&2; echo why > /dev/termination-log; exit 3")
    assert cluster.create(pod("fails", failing, restartPolicy="Never")).returncode == 0
    assert cluster.create(pod("works", container("main", "true"), restartPolicy="Never")).returncode == 0
    failed = cluster.until("fails", lambda p: p["status"]["phase"] != "Pending" and p["status"]["phase"] != "Running")
    assert failed["status"]["phase"] == "Failed"
    ended = state_of(failed, "main")["terminated"]
    assert (ended["exitCode"], ended["reason"], ended["message"]) == (3, "Error", "why\n")
    assert condition(failed, "Ready")["reason"] == "PodCompleted"
    assert cluster.until("works", lambda p: p["status"]["phase"] == "Succeeded")
    logs = cluster.run("logs", "fails", "-c", "main")
    assert (logs.returncode, logs.stdout) == (0, "out\nerr\n")
    r = cluster.run("get", "pod", "fails", "-o", 'jsonpath={.status.phase} {.status.containerStatuses[?(@.name=="main")]'
                    '.state.terminated.exitCode}{"\\n"}')
    assert r.stdout == "Failed 3\n"


def test_a_container_without_a_command_just_runs_and_readiness_gates_keep_the_pod_unready(cluster):
    cluster.objects(WORKER)
    gated = pod("agent", container("idle"), readinessGates=[{"conditionType": "example.com/never"}])
    assert cluster.create(gated).returncode == 0
    p = cluster.until("agent", lambda p: p["status"]["phase"] == "Running")
    assert "running" in state_of(p, "idle") and condition(p, "ContainersReady")["status"] == "True"
    assert {k: condition(p, "Ready").get(k) for k in ("status", "reason", "message")} == {
        "status": "False", "reason": "ReadinessGatesNotReady",
        "message": 'corresponding condition of pod readiness gate "example.com/never" does not exist.'}
    assert cluster.processes() == []                       # nothing was executed for it


def test_restart_policy_always_reports_a_crash_loop_and_runs_nothing_again(cluster):
    cluster.objects(WORKER)
    assert cluster.create(pod("crash", container("main", "sh", "-c", "echo once; exit 1"))).returncode == 0
    p = cluster.until("crash", lambda p: "waiting" in state_of(p, "main") and p["status"]["phase"] == "Running")
    status = next(s for s in p["status"]["containerStatuses"] if s["name"] == "main")
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff" and status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert cluster.run("logs", "crash", "-c", "main").stdout == "once\n"      # the last run's output


def test_a_watch_follows_a_regular_container_and_hears_of_the_pod_deletion(cluster, tmp_path):
    cluster.objects(WORKER)
    flag = tmp_path / "go"
    waits = container("main", "sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.02; done; echo done > /dev/termination-log',
                      str(flag))
    assert cluster.create(pod("w", waits, restartPolicy="Never")).returncode == 0
    template = '{.metadata.resourceVersion}{" "}{.status.containerStatuses[?(@.name=="main")].state}{"\\n"}'
    watch = cluster.start("get", "pod", "w", "--watch", "-o", "jsonpath=" + template)
    try:
        lines = Lines(watch)
        first = lines.until(lambda line: True)
        assert re.match(r'^\d+ \{"(waiting|running)"', first)
        if '"running"' not in first:
            lines.until(lambda line: '"running"' in line)
        flag.touch()
        ended = lines.until(lambda line: '"terminated"' in line)
        assert '"exitCode":0' in ended and '"message":"done\\n"' in ended
        assert cluster.run("delete", "pod", "w").stdout == 'pod "w" deleted\n'
        last = lines.until(lambda line: True)                 # the DELETED event: the pod's last state
        assert '"terminated"' in last and int(last.split()[0]) > int(ended.split()[0])
    finally:
        stop(watch)


def test_a_watch_of_many_pods_hears_of_a_created_pod(cluster):
    cluster.objects(WORKER)
    template = ('{.metadata.namespace}{"/"}{.metadata.name}{" "}{.metadata.resourceVersion}{" "}'
                '{.status.containerStatuses[?(@.name=="main")].state}{"\\n"}')
    watch = cluster.start("get", "pods", "-l", "app=probe", "-n", "default", "--watch", "-o", "jsonpath=" + template)
    try:
        lines = Lines(watch)
        assert cluster.create(pod("late", container("main", "true"), restartPolicy="Never")).returncode == 0
        assert lines.until(lambda line: line.startswith("default/late ") and '"terminated"' in line)
    finally:
        stop(watch)


def test_logs_follow_a_regular_container_until_it_ends(cluster):
    cluster.objects(WORKER)
    slow = container("main", "sh", "-c", "echo one; sleep 0.3; echo two")
    assert cluster.create(pod("talks", slow, restartPolicy="Never")).returncode == 0
    cluster.until("talks", lambda p: "waiting" not in state_of(p, "main"))
    r = cluster.run("logs", "-f", "talks", "-c", "main")
    assert (r.returncode, r.stdout) == (0, "one\ntwo\n")
    assert cluster.run("logs", "talks", "-c", "nope").stderr == "error: container nope is not valid for pod talks\n"


def test_logs_of_a_container_not_started_yet(cluster):
    cluster.objects(WORKER)
    assert cluster.create(pod("later", container("main", "true")), SIM_START_DELAY="30,30").returncode == 0
    r = cluster.run("logs", "later", "-c", "main")
    assert r.stderr == ('Error from server (BadRequest): container "main" in pod "later" is waiting to start: '
                        'ContainerCreating\n')


# --- delete ------------------------------------------------------------------------------------

def test_delete_stops_every_process_of_the_pod_and_records_it(cluster):
    cluster.objects(WORKER)
    assert cluster.create(pod("busy", container("loop", "sh", "-c", "while true; do sleep 0.05; done"))).returncode == 0
    cluster.until("busy", lambda p: "running" in state_of(p, "loop"))
    r = cluster.run("exec", "busy", "-c", "loop", "--", "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo started")
    assert (r.returncode, r.stdout) == (0, "started\n")
    assert len(cluster.processes()) >= 3                  # the loop's shell, its sleep, the exec'd sleep
    r = cluster.run("delete", "pod", "busy", "-n", "default")
    assert (r.returncode, r.stdout, r.stderr) == (0, 'pod "busy" deleted\n', "")
    assert cluster.gone()
    assert (cluster.state / "deleted.jsonl").read_text() == '{"deleted": "default/busy"}\n'
    assert cluster.run("get", "pod", "busy", "-o", "json").stderr == 'Error from server (NotFound): pods "busy" not found\n'
    assert cluster.create(pod("busy", container("loop", "true"), restartPolicy="Never")).returncode == 0   # afresh
    again = cluster.until("busy", lambda p: p["status"]["phase"] == "Succeeded")
    assert state_of(again, "loop")["terminated"]["exitCode"] == 0


def test_delete_errors_and_flags(cluster):
    cluster.objects(WORKER)
    missing = cluster.run("delete", "pod", "nope")
    assert (missing.returncode, missing.stderr) == (1, 'Error from server (NotFound): pods "nope" not found\n')
    quiet = cluster.run("delete", "pod", "nope", "--ignore-not-found", "--wait=false")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert cluster.create(pod("kept")).returncode == 0
    denied = cluster.run("delete", "pod", "kept", SIM_DENY_DELETE="1")
    assert denied.stderr == ('Error from server (Forbidden): pods "kept" is forbidden: User "sim" cannot delete resource '
                             '"pods" in API group "" in the namespace "default"\n')
    assert list(cluster.pods_file()) == ["default/kept"]
    forced = cluster.run("delete", "pod/kept", "--grace-period=0", "--force")
    assert forced.stdout == 'pod "kept" force deleted\n'
    assert forced.stderr.startswith("Warning: Immediate deletion does not wait for confirmation")
    assert cluster.pods_file() == {}


# --- exec --------------------------------------------------------------------------------------

def test_exec_runs_in_the_container_relays_its_output_and_its_exit_code(cluster, tmp_path):
    cluster.objects(WORKER)
    flag = tmp_path / "go"
    waits = container("agent", "sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.02; done', str(flag),
                      env=[{"name": "GREETING", "value": "hi"}])
    assert cluster.create(pod("a", waits, restartPolicy="Never")).returncode == 0
    cluster.until("a", lambda p: "running" in state_of(p, "agent"))
    r = cluster.run("exec", "a", "-c", "agent", "--", "sh", "-c", 'echo "$GREETING"; echo oops >&2; exit 4')
    assert (r.returncode, r.stdout, r.stderr) == (4, "hi\n", "oops\ncommand terminated with exit code 4\n")
    term = next(cluster.state.glob("default_a_*_agent.term"))
    before = term.stat().st_mtime_ns
    time.sleep(0.01)
    r = cluster.run("exec", "a", "-n", "default", "-c", "agent", "--", "sh", "-c",
                    'echo from-exec >> /dev/termination-log; touch "$0"', str(flag))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert term.read_text() == "from-exec\n" and term.stat().st_mtime_ns > before
    ended = cluster.until("a", lambda p: "terminated" in state_of(p, "agent"))
    assert state_of(ended, "agent")["terminated"]["message"] == "from-exec\n"   # the container's own log


def test_exec_errors_as_kubectl_words_them(cluster):
    cluster.objects(WORKER)
    assert cluster.create(pod("idle", container("main"), container("side"))).returncode == 0
    assert cluster.create(pod("later", container("main")), SIM_START_DELAY="30,30").returncode == 0
    assert cluster.create(pod("done", container("main", "true"), restartPolicy="Never")).returncode == 0
    assert cluster.create(pod("unbound", container("main"), nodeSelector={"disk": "ssd"})).returncode == 0
    cluster.until("idle", lambda p: p["status"]["phase"] == "Running")
    cluster.until("done", lambda p: p["status"]["phase"] == "Succeeded")
    cases = [
        (("idle", "-c", "nope"), "Error from server (BadRequest): container nope is not valid for pod idle\n"),
        (("later", "-c", "main"), 'error: unable to upgrade connection: container not found ("main")\n'),
        (("done", "-c", "main"), "error: cannot exec into a container in a completed pod; current phase is Succeeded\n"),
        (("unbound", "-c", "main"), "Error from server (BadRequest): pod unbound does not have a host assigned\n"),
        (("gone", "-c", "main"), 'Error from server (NotFound): pods "gone" not found\n'),
    ]
    for args, stderr in cases:
        r = cluster.run("exec", *args, "--", "true")
        assert (r.returncode, r.stderr) == (1, stderr), args
    forbidden = cluster.run("exec", "idle", "-c", "main", "--", "true", SIM_NO_EXEC="1")
    assert forbidden.stderr == ('Error from server (Forbidden): pods "idle" is forbidden: User "sim" cannot create '
                                'resource "pods/exec" in API group "" in the namespace "default"\n')
    defaulted = cluster.run("exec", "idle", "--", "echo", "first")
    assert (defaulted.stdout, defaulted.stderr) == ("first\n", 'Defaulted container "main" out of: main, side\n')


def test_exec_into_an_ephemeral_container(cluster):
    cluster.objects(WORKER)
    assert cluster.create(pod("host", container("main"))).returncode == 0
    patch = {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox", "command": ["sleep", "30"]}]}}
    assert cluster.run("patch", "pod", "host", "--subresource=ephemeralcontainers", "-p", json.dumps(patch)).returncode == 0
    template = 'jsonpath={.status.ephemeralContainerStatuses[?(@.name=="dbg")].state}'
    deadline = time.time() + 5
    while '"running"' not in cluster.run("get", "pod", "host", "-o", template).stdout:
        assert time.time() < deadline
        time.sleep(0.02)
    r = cluster.run("exec", "host", "-c", "dbg", "--", "echo", "inside")
    assert (r.returncode, r.stdout) == (0, "inside\n")


# --- nodes and namespaces ------------------------------------------------------------------------

def test_the_default_node_and_the_ones_objects_json_holds(cluster):
    r = cluster.run("get", "node", "sim-node", "-o", "json")
    node = json.loads(r.stdout)
    assert node["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert cluster.run("get", "node", "nope", "-o", "json").stderr == 'Error from server (NotFound): nodes "nope" not found\n'
    forbidden = cluster.run("get", "node", "sim-node", "-o", "json", SIM_FORBID="nodes")
    assert forbidden.stderr == ('Error from server (Forbidden): nodes "sim-node" is forbidden: User "sim" cannot get '
                                'resource "nodes" in API group "" at the cluster scope\n')
    cluster.objects(WORKER)
    assert json.loads(cluster.run("get", "nodes", "worker", "-o", "json").stdout)["metadata"]["name"] == "worker"
    assert cluster.run("get", "node", "sim-node", "-o", "json").returncode == 1       # objects.json's nodes only
    assert cluster.run("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout == "worker"


def test_namespaces_default_always_exists(cluster):
    ns = json.loads(cluster.run("get", "namespace", "default", "-o", "json").stdout)
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "default"}
    missing = cluster.run("get", "ns", "shop", "-o", "json")
    assert missing.stderr == 'Error from server (NotFound): namespaces "shop" not found\n'
    cluster.objects(namespace("shop", team="a"))
    assert json.loads(cluster.run("get", "ns", "shop", "-o", "json").stdout)["metadata"]["labels"] == {"team": "a"}
    listed = json.loads(cluster.run("get", "namespaces", "-o", "json").stdout)
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["default", "shop"]
    forbidden = cluster.run("get", "namespace", "shop", "-o", "json", SIM_FORBID="namespaces")
    assert forbidden.stderr.endswith('cannot get resource "namespaces" in API group "" at the cluster scope\n')


# --- processes, costs, compatibility ----------------------------------------------------------

def test_shutdown_kills_what_containers_and_execs_left_running(cluster):
    cluster.objects(WORKER)
    assert cluster.create(pod("agent", container("loop", "sh", "-c", "while true; do sleep 0.05; done"))).returncode == 0
    cluster.until("agent", lambda p: "running" in state_of(p, "loop"))
    assert cluster.run("exec", "agent", "-c", "loop", "--", "sh", "-c", "sleep 30 >/dev/null 2>&1 &").returncode == 0
    groups = [int(line) for line in (cluster.state / "pgids").read_text().split()]
    assert len(groups) == 2     # each a group of its own, with live members (the exec'd shell is gone, its sleep is not)
    assert len([s for s in group_states(groups) if s != "Z"]) >= 3
    log = cluster.state / "calls.jsonl"
    r = cluster.run("__sim-shutdown", SIM_LOG=str(log))
    assert r.returncode == 0 and not log.exists()       # not a kubectl call: neither logged nor charged
    assert cluster.gone()
    assert [s for s in group_states(groups) if s != "Z"] == []   # killed: at most zombies awaiting their reaper


def test_each_verb_costs_its_api_requests_and_is_logged(cluster):
    cluster.objects(WORKER)
    log = cluster.state / "calls.jsonl"
    costs = dict(SIM_API="0.15", SIM_LOG=str(log))
    started = time.time()
    assert cluster.create(pod("a"), **costs).returncode == 0
    created = time.time() - started
    cluster.until("a", lambda p: p["status"]["phase"] == "Running")
    started = time.time()
    assert cluster.run("exec", "a", "-c", "main", "--", "true", **costs).returncode == 0
    assert time.time() - started >= 0.3 and created >= 0.15          # exec: get + upgrade; create: 1
    started = time.time()
    assert cluster.run("delete", "pod", "a", "--wait=false", **costs).returncode == 0
    assert time.time() - started >= 0.15
    verbs = [json.loads(line)[0] for line in log.read_text().splitlines()]
    assert verbs == ["create", "exec", "delete"]


def test_a_recorded_pod_keeps_its_ephemeral_watch_lines(cluster):
    """What the tool's ephemeral-container flow reads stays as it was (startedAt "now", no stamps)."""
    recorded = json.loads(fixture_calls("open")[0]["stdout"])
    recorded["metadata"]["name"] = "web"
    (cluster.state / "pods.json").write_text(json.dumps({"default/web": recorded}))
    patch = {"spec": {"ephemeralContainers": [{"name": "reach-x", "image": "busybox", "command": ["sleep", "0.2"]}]}}
    assert cluster.run("patch", "pod", "web", "-n", "default", "--subresource=ephemeralcontainers",
                       "--type=strategic", "-p", json.dumps(patch)).stdout == "pod/web patched\n"
    template = '{.metadata.resourceVersion}{" "}{.status.ephemeralContainerStatuses[?(@.name=="reach-x")].state}{"\\n"}'
    watch = cluster.start("get", "pod", "web", "-n", "default", "--watch", "-o", "jsonpath=" + template)
    try:
        lines = Lines(watch)
        assert lines.until(lambda line: '"running"' in line).endswith(' {"running":{"startedAt":"now"}}')
        assert lines.until(lambda line: '"terminated"' in line).endswith(' {"terminated":{"exitCode":0,"reason":"Completed"}}')
    finally:
        stop(watch)
    assert int(lines.seen[0].split()[0]) == int(recorded["metadata"]["resourceVersion"]) + 1   # the patch made one
    deleted = cluster.run("delete", "pod", "web")
    assert deleted.stdout == 'pod "web" deleted\n' and cluster.processes() == []


def test_a_kubectl_exec_killed_leaves_its_command_running_until_the_pod_goes(cluster):
    """As in a real cluster: ending kubectl does not end the exec'd command; deleting the pod does."""
    cluster.objects(WORKER)
    assert cluster.create(pod("a", container("main"))).returncode == 0
    cluster.until("a", lambda p: p["status"]["phase"] == "Running")
    proc = cluster.start("exec", "a", "-c", "main", "--", "sleep", "30")
    deadline = time.time() + 5
    while not cluster.processes():
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert len(cluster.processes()) == 1
    assert cluster.run("delete", "pod", "a").returncode == 0
    assert cluster.gone()
