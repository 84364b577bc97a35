"""The process boundary: a kubectl that hangs, dies, or is not there."""
import json
import os
import signal

import pytest

from lib import container as containers_mod
from lib.errors import KubeError
from lib.kubectl import Kubectl, PatchAhead, Result, applied


def fake_kubectl(tmp_path, body):
    path = tmp_path / "kubectl"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_a_hanging_call_ends_with_a_clear_error(tmp_path):
    kube = Kubectl(fake_kubectl(tmp_path, "exec sleep 30"))
    with pytest.raises(KubeError) as info:
        kube.run(["get", "pod", "web"], timeout=0.3)
    assert info.value.reason == "Timeout"
    assert info.value.message == "kubectl get did not answer within 0.3s"


def test_a_kubectl_killed_by_a_signal_is_a_result_not_a_crash(tmp_path):
    kube = Kubectl(fake_kubectl(tmp_path, "kill -9 $$"))
    result = kube.run(["get", "pod", "web"])
    assert result.exit == -9 and not result.ok


def test_a_stream_that_outlives_its_time_is_ended_and_says_so(tmp_path):
    kube = Kubectl(fake_kubectl(tmp_path, "echo first; exec sleep 30"))
    seen = []
    result = kube.stream(["logs", "-f", "web"], seen.append, timeout=0.3)
    assert result.expired and seen == ["first"]


def test_stdout_and_stderr_and_exit_code_come_back(tmp_path):
    kube = Kubectl(fake_kubectl(tmp_path, 'echo "out $*"; echo err >&2; exit 3'), context="c", kubeconfig="k")
    result = kube.run(["get", "pod"])
    assert result == ("out --context c --kubeconfig k get pod\n", "err\n", 3, False)
    assert kube.calls == 1


def test_missing_binary(tmp_path):
    with pytest.raises(KubeError) as info:
        Kubectl(os.path.join(str(tmp_path), "none")).run(["version"])
    assert info.value.reason == "KubectlMissing"


def test_a_stream_ends_as_soon_as_its_output_is_complete(tmp_path):
    after = tmp_path / "kubectl-went-on"
    kube = Kubectl(fake_kubectl(tmp_path, 'echo "reach[done] 0"; sleep 30; touch %s' % after))
    result = kube.stream(["logs", "-f", "web"], lambda line: None, timeout=60,
                         until=lambda line: line.startswith("reach[done]"))
    assert result.ok and not result.expired and result.stdout == "reach[done] 0\n"
    assert not after.exists()   # reach did not wait for kubectl to end by itself


def test_a_bug_in_an_output_handler_ends_the_call_with_a_message(tmp_path):
    kube = Kubectl(fake_kubectl(tmp_path, "echo one; echo two; exec sleep 30"))

    def broken(line):
        raise ValueError("boom")
    result = kube.stream(["logs", "-f", "web"], broken, timeout=20)
    assert not result.expired and "reach could not read kubectl's output: ValueError: boom" in result.stderr


def test_stopping_a_finished_stream_does_not_wait_for_kubectl_to_go(tmp_path):
    after = tmp_path / "kubectl-went-on"
    kube = Kubectl(fake_kubectl(tmp_path, "trap '' TERM; echo 'reach[done] 0'; sleep 30; touch %s" % after))
    result = kube.stream(["logs", "-f", "web"], lambda line: None, timeout=60,
                         until=lambda line: line.startswith("reach[done]"))
    assert result.ok and not after.exists()   # a kubectl that ignores SIGTERM does not hold reach


@pytest.mark.skipif(not __import__("shutil").which("kubectl"), reason="needs the real kubectl")
def test_the_real_kubectl_parses_the_watch_templates(tmp_path):
    """Both watch templates through the real kubectl's jsonpath printer, against the loopback
    stand-in API server that serves the recorded pod as `web` (fixtures/apiserver.py)."""
    import importlib.util
    import subprocess

    from lib.kubectl import state_template
    spec = importlib.util.spec_from_file_location("record_local", os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "record_local.py"))
    record_local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record_local)
    server, kubeconfig = record_local.stand_in_server(str(tmp_path))
    try:
        env = dict(os.environ, KUBECONFIG=kubeconfig)
        one = subprocess.run(["kubectl", "get", "pod", "web", "-n", "default", "-o",
                              "jsonpath=" + state_template("reach-x")], capture_output=True, text=True, env=env,
                             timeout=30)
        # --watch: kubectl applies the template to each pod, not to the list (the stand-in answers the
        # watch request itself with the list again, which prints one more, empty line)
        many = subprocess.run(["kubectl", "get", "pods", "-n", "default", "--watch", "-o",
                               "jsonpath=" + state_template("reach-x", keyed=True)], capture_output=True, text=True,
                              env=env, timeout=30)
    finally:
        server.kill()
        server.wait()
    assert (one.returncode, one.stdout) == (0, "723 \n"), one.stderr
    assert many.returncode == 0 and many.stdout.startswith("default/web 723 \n"), many.stderr


def test_an_interrupt_waits_until_a_process_is_started_and_on_record():
    """A signal inside deferred() is held and raised on the way out; a second one is ignored."""
    from lib import interrupts
    saved = dict(interrupts._state)
    try:
        interrupts._state.update(depth=0, pending=False, fired=False)
        reached_end = False
        with pytest.raises(KeyboardInterrupt):
            with interrupts.deferred():
                interrupts._handler(15, None)     # held, not raised here
                reached_end = True
        assert reached_end and interrupts._state["fired"]
        interrupts._handler(2, None)              # the second signal: nothing happens
    finally:
        interrupts._state.update(saved)


def test_a_process_started_while_interrupted_is_ended_by_its_starter(tmp_path):
    from lib import interrupts
    pids = tmp_path / "pids"
    kube = Kubectl(fake_kubectl(tmp_path, 'echo $$ >> "%s"; exec sleep 30' % pids))
    saved = dict(interrupts._state)
    original = interrupts.deferred

    def interrupted_on_the_way_out():   # as if the signal came while the process started
        return _held_interrupt(original)
    try:
        interrupts._state.update(depth=0, pending=False, fired=False)
        interrupts.deferred = interrupted_on_the_way_out
        with pytest.raises(KeyboardInterrupt):
            kube.start(["get", "pod", "web", "--watch"], lambda line: None)
        interrupts._state.update(fired=False)   # a fresh run's first signal
        with pytest.raises(KeyboardInterrupt):
            kube.run(["get", "pod", "web"])
    finally:
        interrupts.deferred = original
        interrupts._state.update(saved)
    import time

    def alive(pid):
        try:
            os.kill(pid, 0)
            return open("/proc/%d/stat" % pid).read().split()[2] != "Z"
        except OSError:
            return False
    # A process ended before its script ran never writes its pid; one left running writes it at once.
    time.sleep(0.3)
    started = [int(x) for x in pids.read_text().split()] if pids.exists() else []
    deadline = time.time() + 5
    while time.time() < deadline and any(alive(p) for p in started):
        time.sleep(0.05)
    assert not any(alive(p) for p in started) and kube.live == []


def _held_interrupt(original):
    from contextlib import contextmanager

    from lib import interrupts

    @contextmanager
    def held():
        with original():
            yield
            interrupts._handler(2, None)   # arrives inside: held, then raised at the end
    return held()


def test_a_patch_started_ahead_sends_nothing_until_its_body_and_nothing_when_cancelled(tmp_path):
    """The real kubectl against the stand-in API server (it logs every request)."""
    import importlib.util
    import subprocess
    import sys
    import time
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("record_local", os.path.join(root, "fixtures", "record_local.py"))
    record_local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record_local)
    pod_file = tmp_path / "pod.json"
    pod = json.loads(json.loads(open(os.path.join(root, "fixtures", "open.jsonl")).readlines()[1])["stdout"])
    pod["metadata"]["name"] = "web"
    pod_file.write_text(json.dumps(pod))
    log = open(tmp_path / "requests.log", "w")
    server = subprocess.Popen([sys.executable, os.path.join(root, "fixtures", "apiserver.py"), str(pod_file)],
                              stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        config = tmp_path / "kubeconfig"
        config.write_text(record_local.KUBECONFIG % int(server.stdout.readline()))
        kube = Kubectl("kubectl", kubeconfig=str(config))
        waiting = kube.prepare_patch("web", "default")
        time.sleep(0.5)   # kubectl is up and reading stdin
        waiting.cancel()
        time.sleep(0.5)   # a kubectl that saw EOF would have sent its (empty) patch by now
        assert "ephemeralcontainers" not in (tmp_path / "requests.log").read_text()
        result = kube.prepare_patch("web", "default").send('{"spec":{"ephemeralContainers":[]}}')
        assert result.exit == 1 and "the server could not find the requested resource" in result.stderr
        assert "/pods/web/ephemeralcontainers" in (tmp_path / "requests.log").read_text()
        assert kube.live == []
    finally:
        server.kill()
        server.wait()
        log.close()


# -- what the two forms answer: PatchAhead's reading of them, with patches that answer as told ----


NOT_APPLIED = Result("", "The request is invalid: the server rejected our request due to an error in our request\n", 1)
REMOVED = Result("", 'The Pod "web" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers '
                     '"old" may not be removed\n', 1)
OK = Result("pod/web patched\n", "", 0)


class Told:
    """A pending patch that answers as told, and remembers what it was given."""

    def __init__(self, answer):
        self.told, self.given, self.sent, self.cancelled = answer, None, False, False

    def give(self, body, timeout=None):
        self.given, self.sent = json.loads(body), True

    def answer(self):
        assert self.sent
        if isinstance(self.told, KubeError):
            raise self.told
        return self.told

    def cancel(self):
        self.cancelled = not self.sent

    def send(self, body):
        self.give(body)
        return self.answer()

    def outcome(self):
        return None if isinstance(self.told, KubeError) else applied(self.answer())


class Kube:
    def __init__(self, *answers):
        self.patches = iter([Told(a) for a in answers])

    def prepare_patch(self, pod, namespace, patch_type):
        assert patch_type == "json"
        return next(self.patches)


SPEC = {"name": "reach-abcde", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}


def pod(have=()):
    return {"metadata": {"name": "web", "namespace": "default"}, "status": {"phase": "Running"},
            "spec": dict({"containers": [{"name": "app"}]}, **({"ephemeralContainers": list(have)} if have else {}))}


def sent(*answers):
    ahead = PatchAhead("web", "default", SPEC)
    ahead.send(Kube(*answers))
    return ahead


def test_both_forms_go_at_once_each_testing_the_phase():
    appending, listing = sent(OK, REMOVED).forms
    assert appending.given == containers_mod.json_patch_ops(SPEC, first=False)
    assert listing.given == containers_mod.json_patch_ops(SPEC, first=True)


@pytest.mark.parametrize("answers", [(OK, REMOVED), (NOT_APPLIED, OK)])
def test_the_form_that_applied_is_the_answer(answers):
    ahead = sent(*answers)
    assert ahead.answer(pod()).ok and ahead.applied() is True


def test_when_neither_applies_the_refusal_of_the_form_that_fits_the_pod_is_the_answer():
    forbidden = Result("", 'Error from server (Forbidden): pods "web" is forbidden: violates PodSecurity', 1)
    ahead = sent(forbidden, REMOVED)
    assert ahead.answer(pod(have=[{"name": "old"}])) is forbidden   # the pod has its list: appending fits
    ahead = sent(NOT_APPLIED, forbidden)
    assert ahead.answer(pod()) is forbidden                         # no list: adding it fits
    assert ahead.applied() is False and not ahead.refused()


def test_a_form_with_no_answer_does_not_hide_the_one_that_applied():
    late = KubeError("kubectl patch did not answer within 60s", reason="Timeout")
    ahead = sent(late, OK)
    assert ahead.answer(pod()).ok and ahead.applied() is True
    ahead = sent(late, NOT_APPLIED)
    with pytest.raises(KubeError):
        ahead.answer(pod())
    assert ahead.applied() is None   # not known: the run says "may have been added"


def test_a_pod_changed_between_the_two_forms_gets_the_patch_that_fits_it_as_read(monkeypatch):
    """Without a list when the appending form landed, with one (another client's) when the other did."""
    ahead = sent(NOT_APPLIED, REMOVED)
    assert ahead.refused()
    kube = Kubectl("kubectl")
    strategic = Told(OK)
    monkeypatch.setattr(kube, "prepare_patch", lambda pod, namespace, patch_type="strategic": strategic)
    kube.add_ephemeral(pod(have=[{"name": "old"}]), SPEC, ahead)
    assert strategic.given == containers_mod.strategic_patch_object(SPEC)


def test_a_new_run_in_the_same_process_starts_with_no_interrupt_on_record():
    from lib import interrupts
    saved = dict(interrupts._state)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        interrupts._state.update(fired=True, at=0.0)
        assert interrupts.since() is not None
        interrupts.install()
        assert interrupts.since() is None
    finally:
        interrupts._state.update(saved)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_a_lost_answer_of_a_patch_the_read_shows_is_taken_as_applied():
    lost = Result("", "Error from server (Timeout): the server was unable to return a response in the time "
                      "allotted, but may still be processing the request", 1)
    ahead = sent(lost, REMOVED)
    assert ahead.applied() is None
    assert not ahead.answer(pod(have=[{"name": "old"}])).ok        # the read does not show it: unknown
    assert ahead.answer(pod(have=[{"name": "old"}, SPEC])).ok       # the read shows it: applied
