"""The one place that runs kubectl (through `sh`), and its record mode.

Every call goes through Kubectl.run or Kubectl.stream. With REACH_RECORD=DIR each call is
also written to DIR/reach-<time>-<pid>.jsonl in the format of the project's recordings
(argv, stdin, stdout, stderr, exit, started, duration, chunks), ready to become a fixture.
"""
from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, TextIO, Tuple

from . import apierrors, container, interrupts
from .errors import KubeError

# Negative codes are signals (the watchdog's SIGTERM, an OOM kill): sh would raise on them.
ALL_EXIT_CODES = list(range(-64, 256))
ANSWER_GRACE = 3.0   # seconds an interrupted run still waits for a sent patch's answer
CALL_TIMEOUT = 60.0  # kubectl's own --request-timeout is 0 (none); never hang for ever
DELETE_TIMEOUT = 30.0
COMPLETION_TIMEOUT = 5.0  # a shell waits for completions: better none than a hang
_FORBIDDEN_RESOURCE = re.compile(r'cannot list resource "([^"]+)"')
EPHEMERAL = "ephemeralContainerStatuses"   # where a container's state is: in the pod it was added to,
REGULAR = "containerStatuses"              # or in a pod reach created (--copy-to, node/NAME)


class Result(NamedTuple):
    stdout: str
    stderr: str
    exit: int
    expired: bool = False   # the watchdog ended the call

    @property
    def ok(self) -> bool:
        return self.exit == 0


class Recorder:
    def __init__(self, directory: str):
        os.makedirs(directory, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self.path = os.path.join(directory, "reach-%s-%d.jsonl" % (stamp, os.getpid()))
        self.t0: Optional[float] = None

    def write(self, argv: List[str], stdin: Optional[str], result: Result, started: float,
              duration: float, chunks: Optional[list] = None) -> None:
        if self.t0 is None:
            self.t0 = started
        record: Dict[str, Any] = {"argv": argv, "stdin": stdin, "stdout": result.stdout, "stderr": result.stderr,
                                  "exit": result.exit, "started": round(started - self.t0, 3),
                                  "duration": round(duration, 3)}
        if chunks is not None:
            record["chunks"] = chunks
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class Kubectl:
    def __init__(self, binary: str = "kubectl", context: Optional[str] = None, kubeconfig: Optional[str] = None,
                 verbose: bool = False, err: TextIO = sys.stderr, record_dir: Optional[str] = None):
        self.binary = binary
        self.global_flags: List[str] = []
        if context:
            self.global_flags += ["--context", context]
        if kubeconfig:
            self.global_flags += ["--kubeconfig", kubeconfig]
        self.verbose = verbose
        self.err = err
        self.recorder = Recorder(record_dir) if record_dir else None
        self.calls = 0
        self._command: Any = None
        # A fan-out runs many of these in threads; Ctrl-C sets `cancel` and ends what `live` holds;
        # `slots` bounds how many kubectl processes its pods run at once (--parallel).
        self.cancel: Optional[threading.Event] = None
        self.live: List[Any] = []
        self.slots: Optional[threading.Semaphore] = None
        self.writes = 0   # calls sent that may change the cluster (patch, replace, create)
        self.write_outcomes: List[Optional[bool]] = []   # applied(), of each replace or create answered
        self.pending: List[PendingPatch] = []   # every patch started ahead of its body: see settle()
        self.interrupted = False   # an interrupt came while settle() waited: its caller raises it

    # -- the process boundary -------------------------------------------------------------

    @property
    def wrote(self) -> bool:
        """Whether a call that may change the cluster was sent (its answer aside)."""
        return self.writes > 0

    def _cmd(self) -> Any:
        # Resolved at run time, not import time, so a kubectl put first on PATH is found.
        if self._command is None:
            try:
                import sh
            except ImportError:
                raise KubeError("the Python package sh is missing: reach runs kubectl through it",
                                "pip install -r requirements.txt (or pip install sh)", reason="NoSh") from None
            try:
                self._command = sh.Command(self.binary)
            except sh.CommandNotFound:
                raise KubeError("kubectl not found (looked for %r)" % self.binary,
                                "install kubectl, or point --kubectl or $KUBECTL at it",
                                reason="KubectlMissing") from None
        return self._command

    def _argv(self, args: List[str]) -> List[str]:
        if self.cancel is not None and self.cancel.is_set():
            raise KeyboardInterrupt  # the fan-out was interrupted: start nothing more
        argv = self.global_flags + list(args)
        self.calls += 1
        if self.verbose:
            self.err.write("+ %s\n" % " ".join(shlex.quote(a) for a in [self.binary] + argv))
        return argv

    def run(self, args: List[str], stdin: Optional[str] = None, timeout: float = CALL_TIMEOUT,
            own_group: bool = False) -> Result:
        """One kubectl call. `own_group`: a process group of its own, which a terminal's Ctrl-C
        does not reach (a clean-up that must not be cut short; its caller holds interrupts)."""
        cmd = self._cmd()
        argv = self._argv(args)
        started = time.time()
        self._take_slot()
        proc = None
        writing = False
        try:
            # Started and on record, or neither; an interrupt held meanwhile arrives at the end of
            # the block, and the watchdog's exit ends the process then as on any interrupt.
            with _Watchdog.later(timeout) as watchdog:
                with interrupts.deferred():
                    proc = cmd(*argv, _in=stdin, _ok_code=ALL_EXIT_CODES, _tty_out=False, _bg=True,
                               _return_cmd=True, _preexec_fn=interrupts.in_child, _new_group=own_group)
                    if args[0] in ("replace", "create"):   # the cluster may change from here
                        self.writes += 1
                        writing = True
                    self.live.append(proc)
                    self._end_if_cancelled(proc)
                    watchdog.watch(proc)
                proc.wait()
        finally:
            if proc is not None and proc in self.live:
                self.live.remove(proc)
            if self.slots:
                self.slots.release()
        result = self._answer(args[0], argv, stdin, proc, watchdog, started)
        if writing:
            self.write_outcomes.append(applied(result))
        return result

    def _answer(self, verb: str, argv: List[str], stdin: Optional[str], proc: Any, watchdog: _Watchdog,
                started: float) -> Result:
        """A finished call's Result (recorded with REACH_RECORD); KubeError if the watchdog ended it."""
        if watchdog.expired:
            raise KubeError("kubectl %s did not answer within %gs" % (verb, watchdog.timeout),
                            "check that the API server is reachable (kubectl get --raw /readyz)", reason="Timeout")
        result = Result(_text(proc.stdout), _text(proc.stderr), proc.exit_code)
        if self.recorder:
            self.recorder.write(argv, stdin, result, started, time.time() - started)
        return result

    def start(self, args: List[str], on_line: Callable[[str], None],
              until: Optional[Callable[[str], bool]] = None, on_end: Optional[Callable[[], None]] = None,
              slot: bool = True) -> Background:
        """Start a call that runs beside the caller (logs -f, get --watch); see Background."""
        slots = self.slots if slot else None
        if slots:
            self._take_slot()
        call = None
        try:
            with interrupts.deferred():   # started and on record, or neither
                call = Background(self._cmd(), self._argv(args), on_line, until, self.recorder, on_end, slots,
                                  self.live)
                self._end_if_cancelled(call.proc, group=True)
        except BaseException:   # an interrupt held while it started: end it, as its caller never saw it
            if call is not None:
                call.stop(collect=False)
            elif slots:
                slots.release()
            raise
        return call

    def _end_if_cancelled(self, proc: Any, group: bool = False) -> None:
        """A process another thread started while abort() ran: it missed the list, so end it here."""
        if self.cancel is not None and self.cancel.is_set():
            _end_group(proc) if group else _terminate(proc)

    def _take_slot(self) -> None:
        """Wait for a fan-out's slot; an interruption while waiting starts nothing."""
        if not self.slots:
            return
        self.slots.acquire()
        if self.cancel is not None and self.cancel.is_set():
            self.slots.release()
            raise KeyboardInterrupt

    def abort(self) -> None:
        """End every kubectl call of this object that is still running (a fan-out's Ctrl-C)."""
        for proc in list(self.live):
            _end_group(proc) if _is_background(proc) else _terminate(proc)

    def stream(self, args: List[str], on_line: Callable[[str], None], timeout: float,
               until: Optional[Callable[[str], bool]] = None) -> Result:
        """Run a call whose stdout arrives over time, handing over each line, within `timeout`."""
        call = self.start(args, on_line, until)
        finished = False
        try:
            finished = call.wait(timeout)
        finally:
            result = call.stop(expired=not finished)
        assert result is not None
        return result

    # -- the calls reach makes ------------------------------------------------------------

    def current_namespace(self) -> str:
        """The kubeconfig context's namespace (only asked on the error path)."""
        result = self.run(["config", "view", "--minify", "-o", "jsonpath={..namespace}"])
        return (result.stdout.strip() if result.ok else "") or "default"

    def get_pod(self, pod: str, namespace: Optional[str]) -> Dict[str, Any]:
        result = self.run(["get", "pod", pod] + _ns(namespace) + ["-o", "json"])
        if not result.ok:
            ns = namespace or self.current_namespace()
            raise apierrors.classify(result.stderr, pod, ns, "get")
        try:
            return json.loads(result.stdout)
        except ValueError:
            raise KubeError("kubectl get pod printed something that is not JSON",
                            "rerun with -v; check --kubectl points at kubectl", reason="BadOutput") from None

    def get_list(self, args: List[str]) -> Tuple[List[Dict[str, Any]], Tuple[str, ...]]:
        """The objects a `get ... -o json` lists, and the kinds it was forbidden to list.

        A multi-kind get lists what it may and exits 1 with one Forbidden line per other kind:
        that is a partial answer, not a failure.
        """
        result = self.run(["get"] + args + ["-o", "json"])
        forbidden = tuple(dict.fromkeys(_FORBIDDEN_RESOURCE.findall(result.stderr)))
        if not forbidden and "(Forbidden)" in result.stderr:  # worded otherwise (a webhook authorizer)
            forbidden = tuple(args[0].split(","))
        items: List[Dict[str, Any]] = []
        if result.stdout.strip():
            try:
                doc = json.loads(result.stdout)
            except ValueError:
                raise KubeError("kubectl get printed something that is not JSON", "rerun with -v",
                                reason="BadOutput") from None
            items = doc.get("items", [doc]) if doc.get("kind", "").endswith("List") else [doc]
        if not result.ok and not forbidden:
            raise apierrors.classify(result.stderr, "", "", "get")
        return items, forbidden

    def names(self, args: List[str], output: str = "jsonpath={.items[*].metadata.name}") -> List[str]:
        """Words a read prints (for shell completion): [] when kubectl cannot answer quickly."""
        try:
            result = self.run(args + ["-o", output], timeout=COMPLETION_TIMEOUT)
        except KubeError:
            return []
        return result.stdout.split() if result.ok else []

    def prepare_patch(self, pod: str, namespace: Optional[str], patch_type: str = "strategic") -> PendingPatch:
        """Start the `kubectl patch` that adds the container before its body is known (see PendingPatch)."""
        return PendingPatch(self, ["patch", "pod", pod] + _ns(namespace) + [
            "--subresource=ephemeralcontainers", "--type=" + patch_type, "--patch-file", "/dev/stdin"])


    def add_ephemeral(self, pod: Dict[str, Any], spec: Dict[str, Any], ahead: Optional[PatchAhead] = None) -> None:
        """Add the container: a patch of the subresource, or on kubectl < 1.32 a PUT of it."""
        name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
        if ahead:
            result = ahead.answer(pod)
            if not result.ok and ahead.refused():   # the pod changed meanwhile: as read, it takes this
                result = self.prepare_patch(name, ns).send(container.strategic_patch(spec))
        else:
            result = self.prepare_patch(name, ns).send(container.strategic_patch(spec))
        if result.ok:
            return
        if not apierrors.is_client_too_old(result.stderr):
            raise apierrors.classify(result.stderr, name, ns, "patch", spec["name"])
        self._replace(pod, spec)

    def _replace(self, pod: Dict[str, Any], spec: Dict[str, Any], attempts: int = 5) -> None:
        # A PUT of the whole pod to the subresource (what kubectl debug does with old clients);
        # a concurrent change of the pod answers 409, so read it again and retry.
        name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
        path = "/api/v1/namespaces/%s/pods/%s/ephemeralcontainers" % (ns, name)
        for _ in range(attempts):
            result = self.run(["replace", "--raw", path, "-f", "-"], stdin=container.replace_body(pod, spec))
            if result.ok:
                return
            if not apierrors.is_conflict(result.stderr):
                raise apierrors.classify(result.stderr, name, ns, "replace", spec["name"])
            pod = self.get_pod(name, ns)
        raise KubeError('pod "%s" kept changing: %d conflicting updates in a row' % (name, attempts),
                        "try again in a moment", reason="Conflict")

    def settle(self) -> Optional[bool]:
        """After a run, or its end by an error or Ctrl-C: patches never given a body are killed
        unsent; whether the writes sent (patches, a PUT) added the container (None: some answer
        does not say)."""
        with interrupts.deferred():   # none left alive: a signal here waits for the kills
            for patch in self.pending:
                if not patch.sent:
                    patch.cancel()
        sent = [patch for patch in self.pending if patch.sent]
        outcomes = list(self.write_outcomes)
        for patch in sent:   # every one, even after an interrupt: none is left running
            try:
                outcomes.append(patch.outcome())
            except KeyboardInterrupt:   # it waited its grace, and its answer (or none) is on record
                self.interrupted = True
                outcomes.append(patch.outcome())
        # a write sent with no outcome on record (interrupted mid-call) says nothing either
        return any_applied(outcomes + [None] * (self.writes - len(outcomes)))

    def container_state(self, pod: str, namespace: str, name: str, statuses: str = EPHEMERAL) -> str:
        jsonpath = state_path(name, statuses)
        result = self.run(["get", "pod", pod, "-n", namespace, "-o", "jsonpath=" + jsonpath])
        if not result.ok:
            raise apierrors.classify(result.stderr, pod, namespace, "poll", name)
        return result.stdout

    def watch_state(self, pod: str, namespace: str, name: str, on_state: Callable[[str], None],
                    on_end: Optional[Callable[[], None]] = None, statuses: str = EPHEMERAL) -> Background:
        """Start `get --watch`: one line per change of the pod, handing over the container's state text."""
        def on_line(line: str) -> None:
            on_state(line.partition(" ")[2])  # "RESOURCEVERSION STATE": the version keeps lines apart
        template = state_template(name, statuses=statuses)
        return self.start(["get", "pod", pod, "-n", namespace, "--watch", "-o", "jsonpath=" + template], on_line,
                          on_end=on_end, slot=False)   # it waits beside the patch: a slot would deadlock it

    def watch_states(self, namespace: Optional[str], selector: Optional[str], name: str,
                     on_state: Callable[[str, str], None], on_end: Optional[Callable[[], None]] = None) -> Background:
        """One `get pods --watch` for a fan-out: (namespace/pod, container state text) per change of
        any pod it lists; every pod's container has the same name."""
        def on_line(line: str) -> None:
            key, _, rest = line.partition(" ")
            on_state(key, rest.partition(" ")[2])   # "NS/POD RESOURCEVERSION STATE"
        template = state_template(name, keyed=True)
        args = ["get", "pods"] + (["-l", selector] if selector else []) + (["-n", namespace] if namespace else ["-A"])
        return self.start(args + ["--watch", "-o", "jsonpath=" + template], on_line, on_end=on_end, slot=False)

    def logs(self, pod: str, namespace: str, name: str, follow: bool, on_line: Callable[[str], None],
             timeout: float, until: Optional[Callable[[str], bool]] = None) -> Result:
        args = ["logs"] + (["-f"] if follow else []) + [pod, "-n", namespace, "-c", name]
        return self.stream(args, on_line, timeout, until)

    def exec(self, pod: str, namespace: str, name: str, command: List[str], on_line: Callable[[str], None],
             timeout: float, until: Optional[Callable[[str], bool]] = None) -> Result:
        """Run `command` in a running container (a reuse agent), its output line by line."""
        return self.stream(["exec", pod, "-n", namespace, "-c", name, "--"] + command, on_line, timeout, until)

    def get_object(self, kind: str, name: str, namespace: Optional[str] = None) -> Dict[str, Any]:
        """One object (a node, a namespace); KubeError as classified otherwise."""
        result = self.run(["get", kind, name] + _ns(namespace) + ["-o", "json"])
        if not result.ok:
            raise apierrors.classify(result.stderr, name, name if kind == "namespace" else namespace or "",
                                     "get " + kind)
        try:
            return json.loads(result.stdout)
        except ValueError:
            raise KubeError("kubectl get %s printed something that is not JSON" % kind, "rerun with -v",
                            reason="BadOutput") from None

    def create_pod(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """Create a pod reach owns (--copy-to, node/NAME); the pod as created."""
        name, ns = body["metadata"]["name"], body["metadata"]["namespace"]
        result = self.run(["create", "-f", "-", "-n", ns, "-o", "json"], stdin=json.dumps(body))
        if not result.ok:
            raise apierrors.classify(result.stderr, name, ns, "create", body["spec"]["containers"][-1]["name"])
        try:
            return json.loads(result.stdout)
        except ValueError:
            return body   # created all the same: what was sent is what reach needs from it

    def delete_pod(self, name: str, namespace: str) -> Result:
        """Delete a pod reach created, out of reach of a terminal's Ctrl-C; the Result (the caller
        says what a failure leaves behind). A short grace period: the copy's app gets no long goodbye."""
        return self.run(["delete", "pod", name, "-n", namespace, "--ignore-not-found", "--wait=false",
                         "--grace-period=1"], timeout=DELETE_TIMEOUT, own_group=True)


class PendingPatch:
    """`kubectl patch --patch-file /dev/stdin`, started before its body is known.

    kubectl reads the whole patch file before it sends any request (checked with the real
    kubectl 1.32: it loads its config, then waits on stdin; it sends no request before EOF).
    So the process can start while reach still reads the pod - its start-up, 50-100 ms, is
    then off the critical path. But EOF with nothing read is not "nothing": kubectl then
    sends an empty (null) patch, a no-op write. So a patch that is not sent is killed, with
    SIGKILL and its whole process group (a wrapper script's kubectl too), before its stdin
    could ever close; the group is its own, so a terminal's Ctrl-C leaves that to reach.
    """

    def __init__(self, kube: Kubectl, args: List[str]):
        self.kube = kube
        self.body: queue.Queue = queue.Queue()   # the body, then None (EOF)
        self.sent = False
        self.cancelled = False
        self.released = False   # its fan-out slot
        self.proc: Any = None
        self.given = ""
        self.started = 0.0
        self.watchdog: Optional[_Watchdog] = None
        self.result: Optional[Result] = None
        self.unanswered = False   # interrupted, and no answer in ANSWER_GRACE: whether it applied is unknown
        cmd = kube._cmd()
        self.argv = kube._argv(args)
        kube.pending.append(self)   # from here on, settle() kills it if nothing gives it a body
        kube._take_slot()   # a fan-out's slot, held until the answer or the cancel
        try:
            with interrupts.deferred():   # started and on record, or neither
                self.proc = cmd(*self.argv, _in=self.body, _ok_code=ALL_EXIT_CODES, _tty_out=False, _bg=True,
                                _return_cmd=True, _preexec_fn=interrupts.in_child, _new_group=True)
                kube.live.append(self.proc)
                if kube.cancel is not None and kube.cancel.is_set():
                    self.cancel()
        except BaseException:   # an interrupt held while it started: its starter never saw it
            self.cancel()
            raise

    def send(self, body: str, timeout: float = CALL_TIMEOUT) -> Result:
        """Hand kubectl the body (it sends the patch now) and wait for its answer."""
        self.give(body, timeout)
        return self.answer()

    def give(self, body: str, timeout: float = CALL_TIMEOUT) -> None:
        """Hand kubectl the body and its EOF: it sends the patch now; answer() waits for it."""
        if self.cancelled:
            raise KeyboardInterrupt   # ended by a fan-out's Ctrl-C
        with interrupts.deferred():   # the body and its EOF together, or neither
            self.started = time.time()   # timed from the body, as a patch started then would be
            self.given = body
            self.watchdog = _Watchdog(self.proc, timeout, group=True)
            self.sent = True
            self.kube.writes += 1
            self.body.put(body)
            self.body.put(None)   # EOF: kubectl reads no further
            self.watchdog.start()

    def answer(self) -> Result:
        """kubectl's answer to the body given (once; asked again, the same answer).

        Interrupted, it still waits ANSWER_GRACE for the answer, and then re-raises: the patch
        is sent, and what reach says on its way out (the container added or not) depends on it.
        No answer by then: KubeError (Timeout), and the process is ended.
        """
        if self.result is None and not self.unanswered:
            interrupted = False
            try:
                with self.watchdog:
                    finished, interrupted = self._wait()
            finally:
                self._forget()
            try:
                if finished:
                    self.result = self.kube._answer("patch", self.argv, self.given, self.proc, self.watchdog,
                                                    self.started)
            except KubeError:   # the watchdog's: no answer in time
                if not interrupted:
                    raise
            self.unanswered = self.result is None
            if interrupted:
                raise KeyboardInterrupt
        if self.result is None:
            raise KubeError("kubectl patch had not answered when reach was interrupted",
                            "the ephemeral container may have been added", reason="Timeout")
        return self.result

    def outcome(self) -> Optional[bool]:
        """Whether the patch applied; None when no answer says (none in time, an interruption, a
        process ended by a signal)."""
        try:
            return applied(self.answer())
        except KubeError:
            return None

    def _wait(self) -> Tuple[bool, bool]:
        """(answered, interrupted while waiting): once interrupted, until ANSWER_GRACE after the
        interrupt at the most (one grace for all the patches a run waits for)."""
        import sh  # imported by then: the process runs
        interrupted = False
        while True:
            since = interrupts.since()
            try:
                if since is None:
                    self.proc.wait()
                else:
                    self.proc.wait(timeout=max(0.0, ANSWER_GRACE - since))
                    self.proc.process.wait()   # a timed wait does not join sh's output threads
                return True, interrupted
            except KeyboardInterrupt:
                interrupted = True
            except sh.TimeoutException:
                return False, interrupted

    def cancel(self) -> None:
        """Kill the process unsent (it has read nothing, so it has sent nothing); stdin stays open
        until it is dead, so it never sees EOF."""
        if self.sent or self.cancelled:
            return
        if self.proc is not None:
            try:
                self.proc.process.signal_group(signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.cancelled = True   # only once killed: an interrupt before that leaves it to a later cancel
        self._forget()

    def _forget(self) -> None:
        if self.proc is not None and self.proc in self.kube.live:
            self.kube.live.remove(self.proc)
        if self.kube.slots and not self.released:
            self.released = True
            self.kube.slots.release()


class PatchAhead:
    """The patch that adds the container, sent while the pod is still being read.

    A JSON patch whose first operation tests that the pod is Running (container.RUNNING_TEST):
    the API server applies it to the pod as it is when the patch lands, so a pod that is not
    Running still gets nothing, and the read is off the critical path. The read would have told
    the form: `add .../-` needs the pod's list of ephemeral containers, and `add` of the whole
    list is refused where it would replace containers the pod has. So both forms go, from two
    kubectl processes, and at most one applies: each needs what the other changes (the list
    there, or no list; a name twice is refused). The other is refused (422, nothing written):
    one refused request per run, for a read off the critical path. Neither applies when the pod
    changed between them (another client added its first ephemeral container, or the pod just
    became Running): the read, which passed its checks, then has the last word (refused()).
    """

    def __init__(self, pod: str, namespace: Optional[str], spec: Dict[str, Any]):
        self.where = (pod, namespace)
        self.spec = spec
        self.forms: List[PendingPatch] = []   # appending to the list, then adding the list

    def send(self, kube: Kubectl) -> None:
        """Start both forms (interrupted meanwhile, Kubectl.settle() ends what is not sent)."""
        for first in (False, True):
            self.forms.append(kube.prepare_patch(*self.where, patch_type="json"))
            self.forms[-1].give(container.json_patch(self.spec, first))

    def applied(self) -> Optional[bool]:
        """Whether a form added the container (waits for their answers; None: not known)."""
        outcomes = [patch.outcome() for patch in self.forms]
        return any_applied(outcomes)

    def shown_in(self, pod: Dict[str, Any]) -> bool:
        """Whether the pod read holds this container: its name (drawn at random), image and command."""
        return any(isinstance(c, dict) and all(c.get(k) == self.spec[k] for k in ("name", "image", "command"))
                   for c in (pod.get("spec") or {}).get("ephemeralContainers") or [])

    def answer(self, pod: Dict[str, Any]) -> Result:
        """The answer of the form that applied, else the refusal of the form that fits the pod read."""
        answers: List[Optional[Result]] = []
        lost: Optional[KubeError] = None
        for patch in self.forms:   # the appending one first: where it applies, it answers first
            try:
                result: Optional[Result] = patch.answer()
            except KubeError as e:   # the other may still have applied
                lost, result = lost or e, None
            if result is not None and result.ok:
                return result
            answers.append(result)
        if self.shown_in(pod) and None in [patch.outcome() for patch in self.forms]:
            return Result("", "", 0)   # an answer was lost (a 5xx, a timeout), but the read shows it applied
        if lost:
            raise lost
        fits = answers[0 if (pod.get("spec") or {}).get("ephemeralContainers") else 1]
        assert fits is not None
        return fits

    def refused(self) -> bool:
        """Both forms refused for the pod's content alone: it changed between them and the read."""
        try:
            answers = [patch.answer() for patch in self.forms]
        except KubeError:
            return False
        return all(not a.ok and (apierrors.is_not_applied(a.stderr) or apierrors.is_removal(a.stderr))
                   for a in answers)


class Background:
    """A kubectl call running beside the caller, its stdout handed over line by line.

    When `until` accepts a line, the output is complete: the call counts as finished at once
    and stop() ends it rather than waits for it. (sh's _iter stalls for a second at the end
    of one call in four here; a line callback and events do not.)
    """

    def __init__(self, cmd: Any, argv: List[str], on_line: Callable[[str], None],
                 until: Optional[Callable[[str], bool]], recorder: Optional[Recorder],
                 on_end: Optional[Callable[[], None]] = None, slots: Optional[threading.Semaphore] = None,
                 live: Optional[List[Any]] = None):
        self.argv = argv
        self.slots = slots            # a fan-out's slot, held until the call ends or is stopped
        self.live = live              # the Kubectl's running calls, which this one leaves when it ends
        self._slot_lock = threading.Lock()
        self.on_end = on_end
        self.on_line = on_line
        self.until = until
        self.recorder = recorder
        self.started = time.time()
        self.lines: List[str] = []
        self.chunks: list = []
        self.complete = False
        self.exited = False
        self.stopped = False
        self.problem = ""
        self.finished = threading.Event()   # the process ended, or its output is complete
        # A process group of its own: stop() ends kubectl and anything it started, and a
        # terminal's Ctrl-C reaches reach, which then ends it (see stop()).
        self.proc = cmd(*argv, _bg=True, _out=self._out, _ok_code=ALL_EXIT_CODES, _tty_out=False,
                        _return_cmd=True, _decode_errors="replace", _new_group=True,
                        _preexec_fn=interrupts.in_child)
        if self.live is not None:
            self.live.append(self.proc)
        self.waiter = threading.Thread(target=self._wait_process, daemon=True)
        self.waiter.start()

    def _out(self, line: str) -> Optional[bool]:
        # Runs in sh's reader thread: an exception here would end that thread and leave the
        # rest of the output unread, so it is caught and the call counts as finished.
        if self.stopped:
            return True
        try:
            self.lines.append(line)
            self.chunks.append([round(time.time() - self.started, 3), "stdout", line])
            self.on_line(line.rstrip("\n"))
            if self.until and self.until(line):
                self.complete = True
                self.finished.set()
        except Exception as e:  # a bug of ours: say so, and stop reading
            self.problem = "reach could not read kubectl's output: %s: %s" % (type(e).__name__, e)
            self.finished.set()
            if self.on_end:
                self.on_end()
            return True
        return None

    def _release(self) -> None:
        with self._slot_lock:
            slots, self.slots = self.slots, None
            live, self.live = self.live, None
        if slots:
            slots.release()
        if live is not None and self.proc in live:
            live.remove(self.proc)

    def _wait_process(self) -> None:
        self.proc.wait()
        self.exited = True
        self._release()
        self.finished.set()
        if self.on_end:
            self.on_end()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """True once finished; False when `timeout` passed first."""
        return self.finished.wait(timeout)

    def stop(self, expired: bool = False, collect: bool = True) -> Optional[Result]:
        """End the call if it still runs; its Result (exit 0 when `until` saw the output complete).

        Only a call that ended by itself is waited for (to read its exit code); one that was
        ended is not: sh takes ~100 ms to notice, 2 s when kubectl is behind a wrapper.
        """
        self.stopped = True
        _end_group(self.proc)
        self._release()
        if not collect and not self.recorder:
            return None
        if not self.complete and self.exited:
            self.waiter.join(1.0)
        process = self.proc.process   # sh's process object: reading it does not wait
        if self.complete:
            code = 0
        else:
            code = process.exit_code if self.exited and process.exit_code is not None else -1
        stderr = _text(process.stderr) + (self.problem + "\n" if self.problem else "")
        result = Result("".join(self.lines), stderr, code, expired and not self.complete)
        if result.stderr:
            self.chunks.append([round(time.time() - self.started, 3), "stderr", result.stderr])
        if self.recorder:
            self.recorder.write(self.argv, None, result, self.started, time.time() - self.started, self.chunks)
        return result


class _Watchdog:
    """Ends a kubectl process that outlives its time, and ends it on Ctrl-C too.

    A timer thread rather than sh's _timeout or wait(timeout=...): those add ~100 ms to every call.
    """

    def __init__(self, proc: Any, timeout: float, group: bool = False):
        self.proc = proc
        self.timeout = timeout
        self.group = group   # the process leads a group of its own: end the group (a wrapper's kubectl too)
        self.expired = False
        self.started = False
        self.timer = threading.Timer(timeout, self._expire)
        self.timer.daemon = True

    @classmethod
    def later(cls, timeout: float) -> _Watchdog:
        """One for a process not started yet: watch() hands it over."""
        return cls(None, timeout)

    def watch(self, proc: Any) -> None:
        self.proc = proc
        self.start()

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.timer.start()

    def _expire(self) -> None:
        self.expired = True
        self._end()

    def _end(self) -> None:
        if not self.group:
            _terminate(self.proc)
        elif self.proc.process.is_alive()[0]:   # an answered patch has left: nothing to end
            _end_group(self.proc)

    def __enter__(self) -> _Watchdog:
        if self.proc is not None:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.timer.cancel()
        if self.proc is not None:
            self._end()


def state_path(name: str, statuses: str = EPHEMERAL) -> str:
    return '{.status.%s[?(@.name=="%s")].state}' % (statuses, name)


def state_template(name: str, keyed: bool = False, statuses: str = EPHEMERAL) -> str:
    """The jsonpath a watch prints per change: RESOURCEVERSION STATE, led by NAMESPACE/POD when
    `keyed` (a watch of many pods). The newline is jsonpath's escape, not a newline: kubectl's
    parser refuses one inside quotes."""
    key = '{.metadata.namespace}{"/"}{.metadata.name}{" "}' if keyed else ""
    return key + '{.metadata.resourceVersion}{" "}' + state_path(name, statuses) + '{"\\n"}'


def _is_background(proc: Any) -> bool:
    return bool(getattr(proc, "call_args", {}).get("new_group"))


def _terminate(proc: Any) -> None:
    try:
        if proc.process.is_alive()[0]:
            proc.terminate()
    except ProcessLookupError:  # it ended between the two calls
        pass


def _end_group(proc: Any, grace: float = 2.0) -> None:
    """SIGTERM to a background call's process group; SIGKILL to what is left after `grace`."""
    process = proc.process
    try:
        process.signal_group(signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return

    def kill() -> None:
        try:
            if process.is_alive()[0]:
                process.signal_group(signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    timer = threading.Timer(grace, kill)
    timer.daemon = True
    timer.start()


def applied(result: Result) -> Optional[bool]:
    """Whether a write's answer says it applied: yes, no (a refusal), or None (it does not say:
    a 5xx, a timeout, a connection lost, a process ended by a signal)."""
    if result.ok:
        return True
    return False if result.exit > 0 and apierrors.is_refusal(result.stderr) else None


def any_applied(outcomes: List[Optional[bool]]) -> Optional[bool]:
    """One write applied: True; all refused: False; else not known (None)."""
    return True if True in outcomes else None if None in outcomes else False


def _ns(namespace: Optional[str]) -> List[str]:
    return ["-n", namespace] if namespace else []


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""
