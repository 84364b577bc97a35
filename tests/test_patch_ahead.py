"""The patch sent while the pod is read (lib/kubectl.PatchAhead), against the simulated cluster:
its races with the read, and what it leaves in pods that are not Running or are going away."""
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


@pytest.fixture(autouse=True)
def quick_start(cluster):  # noqa: F811
    cluster["SIM_START_DELAY"] = "0.05,0.2"   # what is tested here is the patch, not the wait


def containers(env):
    with open(os.path.join(env["SIM_STATE"], "pods.json")) as f:
        return json.load(f)["default/web"]["spec"].get("ephemeralContainers") or []


def edit_pod(env, change):
    path = os.path.join(env["SIM_STATE"], "pods.json")
    with open(path) as f:
        pods = json.load(f)
    change(pods["default/web"])
    with open(path, "w") as f:
        json.dump(pods, f)


def patches_sent(env):
    """The patch processes started, from the simulator's log (a spare ended unsent is there too)."""
    with open(env["SIM_LOG"]) as f:
        return sum(1 for line in f if json.loads(line)[0] == "patch")


def test_a_patch_that_lands_before_the_read_is_the_runs_own(cluster, ports):  # noqa: F811
    opened, _ = ports
    target = "127.0.0.1:%d" % opened
    assert reach(cluster, "web", "--to", target).returncode == 0   # now the pod has its list: the guess applies
    cluster.update(SIM_READ_DELAY="0.5", SIM_LOG=os.path.join(cluster["SIM_STATE"], "log"))
    r = reach(cluster, "web", "--to", target, "-o", "json")
    assert r.returncode == 0, r.stderr
    names = [c["name"] for c in containers(cluster)]
    assert len(names) == 2 and json.loads(r.stdout)["container"] == names[1]   # one added, and it is the run's
    assert patches_sent(cluster) == 2   # the guess and its spare, which never sent a body


def test_a_name_the_pod_already_has_is_drawn_again(cluster, ports):  # noqa: F811
    opened, _ = ports
    cluster["REACH_NAME_SUFFIX"] = "taken"
    for delay in ("0", "0", "0.5"):   # the name taken; then the read before the guess's answer, and after it
        cluster["SIM_READ_DELAY"] = delay
        r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "-o", "json")
        assert r.returncode == 0, r.stderr
    names = [c["name"] for c in containers(cluster)]
    assert len(names) == 3 and len(set(names)) == 3 and names[0] == "reach-taken"
    assert json.loads(r.stdout)["container"] == names[2]


@pytest.mark.parametrize("has_list", [False, True])
def test_a_pod_that_is_not_running_gets_nothing(cluster, ports, has_list):  # noqa: F811
    opened, _ = ports
    if has_list:
        assert reach(cluster, "web", "--to", "127.0.0.1:%d" % opened).returncode == 0
    before = len(containers(cluster))
    edit_pod(cluster, lambda pod: pod["status"].update(phase="Succeeded"))
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened)
    assert r.returncode == 3
    assert 'pod "web" in namespace "default" is Succeeded, not Running' in r.stderr
    assert "stays in the pod" not in r.stderr
    assert len(containers(cluster)) == before   # the patch's test of the phase failed: nothing applied


def test_a_target_that_is_not_the_pods_gets_nothing(cluster, ports):  # noqa: F811
    opened, _ = ports
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened, "--target", "nope")
    assert r.returncode == 3
    assert 'pod "web" in namespace "default" has no container "nope"' in r.stderr
    assert containers(cluster) == []   # the API server validates targetContainerName: refused


def test_a_terminating_pod_is_refused_and_the_output_says_what_was_added(cluster, ports):  # noqa: F811
    opened, _ = ports
    assert reach(cluster, "web", "--to", "127.0.0.1:%d" % opened).returncode == 0
    edit_pod(cluster, lambda pod: pod["metadata"].update(deletionTimestamp="2026-11-22T11:20:00Z"))
    r = reach(cluster, "web", "--to", "127.0.0.1:%d" % opened)
    assert r.returncode == 3
    # a terminating pod is still Running: the patch ahead applies, and the read refuses after it
    added = containers(cluster)[-1]["name"]
    assert len(containers(cluster)) == 2
    assert 'pod "web" in namespace "default" is terminating' in r.stderr
    assert "ephemeral container %s stays in the pod" % added in r.stderr


def test_ctrl_c_during_the_read_says_whether_the_patch_ahead_added_the_container(cluster, ports):  # noqa: F811
    opened, _ = ports
    assert reach(cluster, "web", "--to", "127.0.0.1:%d" % opened).returncode == 0
    cluster["SIM_READ_DELAY"] = "5"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "reach.py"), "web", "--to", "127.0.0.1:%d" % opened],
                            env=cluster, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 10
    while len(containers(cluster)) < 2 and time.time() < deadline:   # the guess has landed
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)   # as a terminal does: the whole foreground group
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    added = containers(cluster)[-1]["name"]
    assert "interrupted; ephemeral container %s stays in pod web" % added in err
    assert "kubectl logs web -c %s" % added in err   # no -n given: kubectl's namespace, the one patched


def interrupt_once(env, args, when):
    """reach ARGS, Ctrl-C (to its whole group, as a terminal) once when() holds; (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "reach.py")] + args,
                            env=dict(env, PYTHONFAULTHANDLER="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.time() + 10
    while not when() and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:   # hung: its threads' stacks (PYTHONFAULTHANDLER) say where
        proc.send_signal(signal.SIGABRT)
        pytest.fail("reach did not end after Ctrl-C:\n" + proc.communicate()[1][-5000:])
    return proc.returncode, err


def test_ctrl_c_while_the_patch_answers_waits_for_its_answer(cluster, ports):  # noqa: F811
    opened, _ = ports
    assert reach(cluster, "web", "--to", "127.0.0.1:%d" % opened).returncode == 0
    cluster["SIM_ANSWER_DELAY"] = "0.3"   # applied at once, answered a moment later (well within the grace)
    code, err = interrupt_once(cluster, ["web", "-n", "default", "--to", "127.0.0.1:%d" % opened],
                               lambda: len(containers(cluster)) == 2)
    assert code == 130, err
    added = containers(cluster)[-1]["name"]
    assert "interrupted; ephemeral container %s stays in pod web" % added in err
    assert "kubectl logs web -n default -c %s" % added in err


def test_ctrl_c_during_the_runs_own_write_never_says_nothing_changed(cluster, ports):  # noqa: F811
    """kubectl 1.27 refuses both forms in the client; reach's own PUT is then under way."""
    opened, _ = ports
    cluster.update(SIM_CLIENT="27", SIM_ANSWER_DELAY="5")
    code, err = interrupt_once(cluster, ["web", "--to", "127.0.0.1:%d" % opened],
                               lambda: len(containers(cluster)) == 1)
    assert code == 130, err
    assert "nothing was changed" not in err
    assert containers(cluster)[0]["name"] in err


def test_two_runs_at_once_on_a_pod_without_ephemeral_containers_both_add_theirs(cluster, ports):  # noqa: F811
    """One run's container can land between the other's two forms, so that neither applies:
    that run then sends the patch that fits the pod as read."""
    opened, _ = ports
    argv = [sys.executable, os.path.join(ROOT, "reach.py"), "web", "--to", "127.0.0.1:%d" % opened]
    for _ in range(2):
        edit_pod(cluster, lambda pod: pod["spec"].pop("ephemeralContainers", None))
        runs = [subprocess.Popen(argv, env=cluster, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        results = [(p.wait(timeout=30), p.stderr.read()) for p in runs]
        assert [code for code, _ in results] == [0, 0], results
        assert len(containers(cluster)) == 2


def sim_processes(env):
    """The simulated kubectl processes of this cluster still running (found by their SIM_STATE)."""
    mark = ("SIM_STATE=%s" % env["SIM_STATE"]).encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if mark in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_ctrl_c_while_the_patches_are_awaited_leaves_no_kubectl_behind(cluster, ports):  # noqa: F811
    opened, _ = ports
    assert reach(cluster, "web", "--to", "127.0.0.1:%d" % opened).returncode == 0
    edit_pod(cluster, lambda pod: pod["metadata"].update(deletionTimestamp="2026-11-22T11:20:00Z"))
    wrapper = os.path.join(os.path.dirname(cluster["SIM_STATE"]), "bin", "kubectl")
    with open(wrapper) as f:   # a wrapper that does not exec: kubectl is its child, in its group
        text = f.read()
    with open(wrapper, "w") as f:
        f.write(text.replace("exec ", ""))
    cluster["SIM_ANSWER_DELAY"] = "30"   # applied at once, answered far later than reach waits
    log = cluster["SIM_LOG"] = os.path.join(cluster["SIM_STATE"], "log")

    over = []

    def read_over():   # the get started, and only the two patches' wrappers and kubectls are left...
        with open(log) as f:
            started = any(json.loads(line)[:2] == ["get", "pod"] for line in f)
        if not over and started and len(containers(cluster)) == 2 and len(sim_processes(cluster)) <= 4:
            over.append(time.time())
        return bool(over) and time.time() > over[0] + 0.3   # ...and reach has had its answer
    code, err = interrupt_once(cluster, ["web", "-n", "default", "--to", "127.0.0.1:%d" % opened],
                               lambda: os.path.exists(log) and read_over())
    # the read's refusal was on its way when Ctrl-C came: it stays the news, with what is not known
    assert code == 3, err
    assert 'pod "web" in namespace "default" is terminating' in err
    assert "ephemeral container %s may have been added" % containers(cluster)[-1]["name"] in err
    deadline = time.time() + 10   # SIGTERM to each group, SIGKILL 2 s later
    while sim_processes(cluster) and time.time() < deadline:
        time.sleep(0.1)
    assert sim_processes(cluster) == []


def test_ctrl_c_during_a_patch_sent_anew_still_says_what_it_did(cluster, ports):  # noqa: F811
    opened, _ = ports
    cluster["REACH_NAME_SUFFIX"] = "taken"
    assert reach(cluster, "web", "--to", "127.0.0.1:%d" % opened).returncode == 0
    cluster["SIM_ANSWER_DELAY"] = "0.3"   # the name is taken: the run's own patch applies, answers later
    code, err = interrupt_once(cluster, ["--context", "lab", "web", "-n", "default", "--to",
                                         "127.0.0.1:%d" % opened], lambda: len(containers(cluster)) == 2)
    assert code == 130, err
    added = containers(cluster)[-1]["name"]
    assert added != "reach-taken"
    assert "interrupted; ephemeral container %s stays in pod web" % added in err
    assert "kubectl --context lab logs web -n default -c %s" % added in err


def test_a_patch_whose_answer_is_lost_but_which_the_read_shows_goes_on(cluster, ports):  # noqa: F811
    opened, _ = ports
    assert reach(cluster, "web", "--to", "127.0.0.1:%d" % opened).returncode == 0
    cluster["SIM_ANSWER_ERROR"] = ("Error from server (Timeout): the server was unable to return a response in the "
                                   "time allotted, but may still be processing the request (patch pods web)")
    cluster["SIM_READ_DELAY"] = "0.5"   # the read comes after the patch applied
    r = reach(cluster, "web", "-n", "default", "--to", "127.0.0.1:%d" % opened, "-o", "json")
    assert r.returncode == 0, r.stderr
    assert len(containers(cluster)) == 2   # applied once, not sent again
    assert json.loads(r.stdout)["container"] == containers(cluster)[-1]["name"]
