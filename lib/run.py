"""One run against one pod: get, check, add the container, wait, read, decide.

All side effects go through the Kubectl object; time and randomness are parameters so
the wait loop is tested with a fake clock.
"""
from __future__ import annotations

import random
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

from . import apierrors, container, pods, probe, status
from .errors import Exit, KubeError, ProbeError, ReachError
from .kubectl import Kubectl
from .probe import Verdict
from .targets import Target

NOTICE_AFTER = 2.0       # seconds of waiting before telling the user what we wait for
FIRST_POLL = 0.1
MAX_POLL = 1.0
POLL_RETRIES = 3         # consecutive failed polls (API hiccups) before giving up
# Beyond --timeout, how long the probe's log may take: name resolution has its own timeouts
# (resolv.conf: timeout x attempts, per search domain) that nc -w does not bound.
LOG_MARGIN = 90.0


class Request(NamedTuple):
    pod: str
    namespace: Optional[str]
    targets: Sequence[Target]
    image: str = container.DEFAULT_IMAGE
    pull_policy: str = container.DEFAULT_PULL_POLICY
    timeout: float = 3.0
    start_timeout: float = 60.0
    target_container: Optional[str] = None
    name_suffix: Optional[str] = None   # test hook: REACH_NAME_SUFFIX


class RunResult(NamedTuple):
    pod: str
    namespace: str
    node: str
    container: str
    image: str
    verdicts: List[Verdict]
    timings: Dict[str, int]
    kubectl_calls: int


class Interrupted(ReachError):
    exit_code = Exit.INTERRUPTED


class Clock(NamedTuple):
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class Ui:
    """What a run tells the user while it works; the cli supplies a real one."""

    def progress(self, message: str) -> None:
        pass

    def verdict(self, verdict: Verdict) -> None:
        pass


def exit_code(verdicts: Sequence[Verdict]) -> Exit:
    if any(v.outcome == "error" for v in verdicts):
        return Exit.PROBE
    if all(v.reachable for v in verdicts):
        return Exit.OK
    return Exit.UNREACHABLE


def wait_for_start(poll: Callable[[], status.State], start_timeout: float, clock: Clock,
                   notify: Callable[[status.State, float], None]) -> status.State:
    """Poll until the container runs, ends or fails; back off from 0.1 s to 1 s between polls."""
    began = clock.now()
    interval = FIRST_POLL
    noticed = False
    while True:
        state = poll()
        if state.started or state.phase == "failed":
            return state
        elapsed = clock.now() - began
        if elapsed >= start_timeout:
            raise _start_deadline(state, start_timeout)
        if not noticed and elapsed >= NOTICE_AFTER:
            notify(state, elapsed)
            noticed = True
        pause = min(interval, start_timeout - elapsed)
        if not noticed:
            pause = min(pause, max(NOTICE_AFTER - elapsed, 0.0))  # poll at the 2 s mark: the notice is due then
        clock.sleep(pause)
        interval = min(interval * 1.5, MAX_POLL)


def _start_deadline(state: status.State, start_timeout: float) -> ProbeError:
    if state.phase == "absent":
        why = "the kubelet has not reported it at all"
        hint = "check that the node is Ready and runs Kubernetes 1.25 or newer; or raise --start-timeout"
    else:
        why = "it is still %s" % (state.reason or state.phase)
        hint = "the node may be pulling a large image: raise --start-timeout, or use a smaller --image"
    return ProbeError("the probe container did not start within %gs: %s" % (start_timeout, why), hint)


class Run:
    def __init__(self, request: Request, kube: Kubectl, ui: Ui, clock: Optional[Clock] = None,
                 rng: Optional[random.Random] = None):
        self.req = request
        self.kube = kube
        self.ui = ui
        self.clock = clock or Clock()
        self.rng = rng or random.Random()
        self.pod_name = request.pod
        self.namespace = request.namespace or ""
        self.name = ""
        self.added = False
        self.timings: Dict[str, int] = {}

    def execute(self) -> RunResult:
        try:
            return self._execute()
        except KeyboardInterrupt:
            raise self._interrupted() from None
        except ReachError as e:
            if self.added and self.name not in e.message + e.hint:
                e.hint += "%s(ephemeral container %s stays in the pod; its output: %s)" % (
                    "; " if e.hint else "", self.name, self._logs_command())
            raise

    def _logs_command(self) -> str:
        return "kubectl logs %s -n %s -c %s" % (self.pod_name, self.namespace, self.name)

    def _lap(self, key: str, since: float) -> float:
        now = self.clock.now()
        self.timings[key] = int(round((now - since) * 1000))
        return now

    def _execute(self) -> RunResult:
        req, kube = self.req, self.kube
        t0 = t = self.clock.now()
        pod = kube.get_pod(req.pod, req.namespace)
        t = self._lap("get_ms", t)
        self.namespace = pod["metadata"]["namespace"]
        pods.check(pod, req.target_container)
        suffix = req.name_suffix or container.random_suffix(self.rng)
        self.name = container.pick_name(pod, suffix, self.rng)
        spec = container.build(container.Spec(self.name, req.image, req.pull_policy, req.targets,
                                              req.timeout, req.target_container))
        self.ui.progress("adding ephemeral container %s (%s) to pod %s/%s"
                         % (self.name, req.image, self.namespace, self.pod_name))
        try:
            kube.add_ephemeral(pod, spec)
        except KubeError as e:
            if e.reason == "Timeout":  # the API may have taken it all the same
                e.hint += "; ephemeral container %s may have been added: %s" % (self.name, self._logs_command())
            raise
        self.added = True
        t = self._lap("add_ms", t)
        state = self._wait()
        if state.phase == "failed":
            raise self._failed(state)
        t = self._lap("start_ms", t)
        verdicts = self._collect(state)
        self._lap("probe_ms", t)
        self._lap("total_ms", t0)
        return RunResult(self.pod_name, self.namespace, pods.node_name(pod), self.name, req.image,
                         verdicts, dict(self.timings), kube.calls)

    def _poll(self) -> status.State:
        for attempt in range(POLL_RETRIES):
            try:
                return status.parse(self.kube.container_state(self.pod_name, self.namespace, self.name))
            except KubeError as e:
                # A deleted pod or a missing right will not heal; an API hiccup may.
                if e.reason in ("PodNotFound", "NamespaceNotFound", "Forbidden", "Unauthorized") \
                        or attempt == POLL_RETRIES - 1:
                    raise
                self.clock.sleep(0.5)
        raise AssertionError("unreachable")

    def _wait(self) -> status.State:
        def notify(state: status.State, elapsed: float) -> None:
            what = state.reason or ("not reported by the kubelet yet" if state.phase == "absent" else state.phase)
            self.ui.progress("waiting for %s to start (%s, %.0fs so far; limit %gs)"
                             % (self.name, what, elapsed, self.req.start_timeout))
        return wait_for_start(self._poll, self.req.start_timeout, self.clock, notify)

    def _failed(self, state: status.State) -> ProbeError:
        message = "the probe container %s could not start: %s" % (self.name, state.reason)
        if state.message:
            message += ": %s" % state.message
        return ProbeError(message, status.failure_hint(state, self.req.image), container=self.name)

    def _collect(self, state: status.State) -> List[Verdict]:
        """Read the log (following it while the container runs) into one verdict per target."""
        targets = self.req.targets
        shown = set()

        def on_line(line: str) -> None:
            parsed = probe.parse_line(targets, line)
            if isinstance(parsed, tuple) and parsed[0] not in shown:
                shown.add(parsed[0])
                self.ui.verdict(parsed[1])

        self.ui.progress("probing %d target%s from %s (--timeout %gs, in parallel)"
                         % (len(targets), "" if len(targets) == 1 else "s", self.name, self.req.timeout))
        budget = probe.wait_seconds(self.req.timeout) + LOG_MARGIN
        for _ in range(3):
            result = self.kube.logs(self.pod_name, self.namespace, self.name, state.phase == "running", on_line,
                                    budget, until=lambda line: probe.parse_line(targets, line) == probe.DONE)
            if result.expired:
                raise ProbeError("the probe in %s did not finish within %gs" % (self.name, budget),
                                 "name resolution may be hanging in the pod", container=self.name)
            if not result.ok:
                if not apierrors.is_not_started(result.stderr):
                    raise apierrors.classify(result.stderr, self.pod_name, self.namespace, "logs", self.name)
                state = self._wait()
                if state.phase == "failed":
                    raise self._failed(state)
                continue
            log = probe.parse_log(targets, result.stdout.splitlines())
            if log.complete:
                return log.verdicts
            # The log ended early: ask the container's state why, once.
            state = self._poll()
            if state.phase == "running":
                continue
            return probe.with_missing(targets, log, _ended_early(state, log))
        raise ProbeError("the log of %s kept ending before the probe finished" % self.name, container=self.name)

    def _interrupted(self) -> Interrupted:
        if not self.name:
            return Interrupted("interrupted; nothing was changed")
        logs = "kubectl logs %s -n %s -c %s" % (self.pod_name, self.namespace, self.name)
        if self.added:
            return Interrupted("interrupted; ephemeral container %s stays in pod %s (they cannot be removed) "
                               "and ends when its probe does" % (self.name, self.pod_name),
                               "read its output with %s" % logs)
        return Interrupted("interrupted while adding ephemeral container %s to pod %s; it may have been added"
                           % (self.name, self.pod_name), "if it was, read its output with %s" % logs)


def _ended_early(state: status.State, log: probe.ProbeLog) -> str:
    if state.phase in ("terminated", "failed"):
        why = "the probe container ended (%s, exit code %s) before reporting this target" % (
            state.reason or "terminated", state.exit_code)
    else:
        why = "the probe container's log ended before reporting this target"
    if log.other_lines:
        why += ": %s" % log.other_lines[-1]
    return why
