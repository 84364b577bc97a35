"""One run against one pod: get, check, add the container, wait, read, decide.

All side effects go through the Kubectl object; time and randomness are parameters so
the wait loop is tested with a fake clock.
"""
from __future__ import annotations

import random
import shlex
import sys
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import agents, apierrors, container, pods, probe, status
from .errors import Exit, KubeError, ProbeError, ReachError
from .kubectl import EPHEMERAL, Kubectl, PatchAhead
from .probe import Verdict
from .targets import Target
from .waiting import Clock, Polls, WatchFeed, settle, wait_for_start

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
    bypass_mesh: bool = False           # run the probe as Istio's proxy UID
    reuse: bool = False                 # exec in a running reach agent; a new one idles keep_alive seconds
    keep_alive: float = 600.0
    insecure: bool = False              # --insecure: https probes skip certificate verification


class RunResult(NamedTuple):
    pod: str
    namespace: str
    node: str
    container: str
    image: str
    verdicts: List[Verdict]
    timings: Dict[str, int]
    kubectl_calls: int
    source: Optional[Dict[str, Any]] = None   # the pod as read, for --explain
    warnings: Tuple[str, ...] = ()             # what makes the verdicts worth less (a mesh sidecar)
    mode: str = "ephemeral"                    # ephemeral | reused | copy | node: where the probe ran
    probe_pod: str = ""                        # the pod reach created for it (copy, node), when not `pod`
    notes: Tuple[str, ...] = ()                # what the user should know about how it ran


class Interrupted(ReachError):
    exit_code = Exit.INTERRUPTED


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


class Run:
    statuses = EPHEMERAL   # where the kubelet reports the probe container's state
    mode = "ephemeral"

    def __init__(self, request: Request, kube: Kubectl, ui: Ui, clock: Optional[Clock] = None,
                 rng: Optional[random.Random] = None, pod: Optional[Dict[str, Any]] = None,
                 shared: Optional[Tuple[str, WatchFeed]] = None):
        self.req = request
        self.kube = kube
        self.ui = ui
        self.clock = clock or Clock(time.monotonic, time.sleep)
        self.rng = rng or random.Random()
        self.pod_name = request.pod
        self.namespace = request.namespace or ""
        self.name = ""
        self.added = False
        self.reusing = False   # the probe runs in an agent found in the pod (--reuse)
        self.ahead: Optional[Any] = None   # the patch sent while the pod is read (kubectl.PatchAhead)
        self.maybe_added = False   # a write's answer did not say whether it added the container
        self.suffix = request.name_suffix or container.random_suffix(self.rng)
        self.timings: Dict[str, int] = {}
        self._mark = 0.0
        self.prefetched = pod   # a fan-out lists its pods at once: no get per pod
        self.shared = shared    # a fan-out's watch of all its pods: (container name, this pod's feed)

    def execute(self) -> RunResult:
        try:
            return self._execute()
        except KeyboardInterrupt:
            raise self._interrupted() from None
        except ReachError as e:
            if (self.added or self.maybe_added) and self.name and self.name not in e.message + e.hint:
                e.hint += "%s(ephemeral container %s %s; its output: %s)" % (
                    "; " if e.hint else "", self.name, "stays in the pod" if self.added else "may have been added",
                    self._logs_command())
            raise

    def _logs_command(self) -> str:
        # no namespace before the pod is read (none given): kubectl's default is the one it patched
        words = ["kubectl"] + self.kube.global_flags + ["logs", self.pod_name] + (
            ["-n", self.namespace] if self.namespace else []) + ["-c", self.name]
        return " ".join(shlex.quote(w) for w in words)

    def _lap(self, key: str) -> None:
        """Milliseconds since the previous lap (or the start) under `key`."""
        now = self.clock.now()
        self.timings[key] = int(round((now - self._mark) * 1000))
        self._mark = now

    def _execute(self) -> RunResult:
        # The patch is sent while the pod is read (kubectl.PatchAhead): the read is off the
        # critical path, and a pod that is not Running still gets nothing.
        try:
            if not (self.prefetched or self.req.reuse):
                spec = self._spec({})
                self.name = spec["name"]
                self.ahead = PatchAhead(self.req.pod, self.req.namespace, spec)
                self.ahead.send(self.kube)
            return self._execute_read()
        finally:
            if not self.prefetched and self.kube.pending:   # a fan-out's jobs answer for their own
                added = self.kube.settle()
                if added:
                    self.added = True   # e.g. refused after the read, but the patch ahead had added it
                elif added is False and not self.added:
                    self.name = ""   # known not added: no container to point at
                self.maybe_added = added is None
                if self.kube.interrupted and sys.exc_info()[0] is None:   # an error on its way stays the news
                    raise KeyboardInterrupt

    def _execute_read(self) -> RunResult:
        req, kube = self.req, self.kube
        began = self._mark = self.clock.now()
        pod = self.prefetched or kube.get_pod(req.pod, req.namespace)
        self._lap("get_ms")
        self.namespace = pod["metadata"]["namespace"]
        pods.check(pod, req.target_container)
        spec = self._spec(pod)
        if self.ahead and spec["name"] != self.ahead.spec["name"]:
            # The pod read has the name: the patch ahead landed first, or the name was the pod's before.
            applied = self.ahead.applied()
            if applied is None and self.ahead.shown_in(pod):
                applied = True   # its answer was lost (a 5xx, a timeout), but the read shows it added
            if applied is None:
                raise KubeError("no answer says whether the patch added ephemeral container %s" % self.name,
                                "it may have been added: %s; run again if not" % self._logs_command(),
                                reason="Timeout")
            if not applied:   # refused: sent anew under the name drawn from the read
                self.ahead = None
        if self.ahead:
            spec = self.ahead.spec
        warning = pods.sidecar_warning(pod, req.bypass_mesh)
        notes: List[str] = []
        mode = self.mode
        verdicts = self._reused(pod, spec, notes) if req.reuse else None
        if verdicts is not None:
            mode = "reused"
        else:
            self.name = spec["name"]
            if req.reuse and self.agent_wanted:
                spec["command"] = agents.command(spec["command"], req.keep_alive)
                mode = "agent"
            self.ui.progress("adding %s %s (%s) to pod %s/%s" % ("reach agent" if agents.is_agent(spec) else
                                                                 "ephemeral container", self.name, req.image,
                                                                 self.namespace, self.pod_name))
            state = self._add_and_start(pod, spec)
            self._lap("start_ms")
            verdicts = self._collect(state)
            self._lap("probe_ms")
        self.timings["total_ms"] = int(round((self.clock.now() - began) * 1000))
        return RunResult(self.pod_name, self.namespace, pods.node_name(pod), self.name, req.image,
                         verdicts, dict(self.timings), kube.calls, pod, (warning,) if warning else (),
                         mode=mode, notes=tuple(notes))

    def _spec(self, pod: Dict[str, Any]) -> Dict[str, Any]:
        """The probe container, under a name the pod does not have yet."""
        req = self.req
        return container.build(container.Spec(container.pick_name(pod, self.suffix, self.rng), req.image,
                                              req.pull_policy, req.targets, req.timeout, req.target_container,
                                              pods.ISTIO_PROXY_UID if req.bypass_mesh else None,
                                              insecure=req.insecure))

    agent_wanted = True   # --reuse: a new container idles as an agent (not when exec is forbidden)

    def _reused(self, pod: Dict[str, Any], spec: Dict[str, Any], notes: List[str]) -> Optional[List[Verdict]]:
        """--reuse: the verdicts from a probe run in a running agent, or None (a note says why)."""
        agent = agents.find(pod, spec)
        keep = "it ends after %s without use" % agents.duration_text(self.req.keep_alive)
        if not agent:
            notes.append("no running reach agent in this pod with this image and settings: added one (%s)" % keep)
            return None
        self.name, self.reusing = agent, True
        self.ui.progress("probing from reach agent %s in pod %s/%s (kubectl exec; no new container)"
                         % (agent, self.namespace, self.pod_name))
        targets = self.req.targets
        budget = self._log_budget()
        result = self.kube.exec(self.pod_name, self.namespace, agent,
                                agents.exec_command(probe.command(targets, self.req.timeout, self.req.insecure),
                                                    int(budget)),
                                self._show_verdict, budget,
                                until=lambda line: probe.parse_line(targets, line) == probe.DONE)
        log = probe.parse_log(targets, result.stdout.splitlines())
        if log.complete:
            self._lap("exec_ms")
            return log.verdicts
        if result.expired:
            raise ProbeError("the probe in agent %s did not finish within %gs" % (agent, budget),
                             "name resolution may be hanging in the pod")
        error = apierrors.classify(result.stderr, self.pod_name, self.namespace, "exec", agent)
        if error.reason == "Forbidden":
            self.agent_wanted = False
            notes.append("kubectl exec is forbidden (%s): added a one-shot container instead; --reuse needs "
                         "create on pods/exec" % error.message)
        elif agents.is_gone(result.stderr) or not log.verdicts:
            notes.append("reach agent %s could not run the probe (%s): added a new agent (%s)"
                         % (agent, apierrors.first_line(result.stderr) or "its output ended early", keep))
        else:
            raise error
        self.ui.progress(notes[-1])
        self.name, self.reusing = "", False
        return None

    def _log_budget(self) -> float:
        """How long the probe's output may take to come (its own timeouts, and name resolution's)."""
        return probe.wait_seconds(self.req.timeout) + LOG_MARGIN

    def _show_verdict(self, line: str) -> None:
        """A log or exec line: the Ui shows each target once (a log read again repeats lines)."""
        parsed = probe.parse_line(self.req.targets, line)
        if isinstance(parsed, tuple):
            self.ui.verdict(parsed[1])

    def _add_and_start(self, pod: Dict[str, Any], spec: Dict[str, Any]) -> status.State:
        """Add the container and wait until it runs or ends; ProbeError when it cannot start.

        The watch starts first: its start-up overlaps the patch, and it reads from the pod's
        version at its start, so it misses no change. Its end (an error: no right to watch)
        ends the feed, and the wait polls instead.
        """
        feed = WatchFeed()
        watch = None
        shared = bool(self.shared and self.shared[0] == self.name)   # the fan-out's watch reports this pod
        try:
            if shared:
                feed = self.shared[1]
            elif self.watch_first:
                watch = self._watch(feed)
            self._add(pod, spec)
            self.added = True
            self._lap("add_ms")
            if watch is None and not shared:
                watch = self._watch(feed)
            state = self._wait(feed)
            if state.phase == "running":
                state = self._started(settle(feed, state, self.clock))
        finally:
            if watch:
                watch.stop(collect=False)
        return state

    watch_first = True   # the pod exists before the container is added: its watch can start first

    def _watch(self, feed: WatchFeed) -> Any:
        return self.kube.watch_state(self.pod_name, self.namespace, self.name, feed.put, on_end=feed.close,
                                     statuses=self.statuses)

    def _add(self, pod: Dict[str, Any], spec: Dict[str, Any]) -> None:
        try:
            self.kube.add_ephemeral(pod, spec, self.ahead)
        except KubeError as e:
            if e.reason == "Timeout":  # the API may have taken it all the same
                e.hint += "; ephemeral container %s may have been added: %s" % (self.name, self._logs_command())
            raise

    def _poll(self) -> status.State:
        for attempt in range(POLL_RETRIES):
            try:
                return status.parse(self.kube.container_state(self.pod_name, self.namespace, self.name,
                                                              self.statuses))
            except KubeError as e:
                # A deleted pod or a missing right will not heal; an API hiccup may.
                if e.reason in ("PodNotFound", "NamespaceNotFound", "Forbidden", "Unauthorized") \
                        or attempt == POLL_RETRIES - 1:
                    raise
                self.clock.sleep(0.5)
        raise AssertionError("unreachable")

    def _polls(self) -> Polls:
        return Polls(self._poll, self.clock)

    def _wait(self, source: Optional[WatchFeed] = None) -> status.State:
        """Wait until the container runs or ends (ProbeError when it cannot start)."""
        def notify(state: status.State, elapsed: float) -> None:
            what = state.reason or ("not reported by the kubelet yet" if state.phase == "absent" else state.phase)
            self.ui.progress("waiting for %s to start (%s, %.0fs so far; limit %gs)"
                             % (self.name, what, elapsed, self.req.start_timeout))
        return self._started(wait_for_start(source or self._polls(), self.req.start_timeout, self.clock, notify,
                                            fallback=self._polls, check=self._poll if source else None))

    def _started(self, state: status.State) -> status.State:
        """The state of a container that runs or ran; ProbeError for one that could not start."""
        if state.phase == "failed":
            raise self._failed(state)
        return state

    def _failed(self, state: status.State) -> ProbeError:
        message = "the probe container %s could not start: %s" % (self.name, state.reason)
        if state.message:
            message += ": %s" % state.message
        return ProbeError(message, status.failure_hint(state, self.req.image))

    def _collect(self, state: status.State) -> List[Verdict]:
        """Read the log (following it while the container runs) into one verdict per target."""
        targets = self.req.targets
        on_line = self._show_verdict
        if state.phase == "terminated":
            # A container seen first as ended carries the verdicts in its termination message.
            log = probe.parse_log(targets, state.message.splitlines())
            if log.complete:
                for verdict in log.verdicts:
                    self.ui.verdict(verdict)
                return log.verdicts
        self.ui.progress("probing %d target%s from %s (--timeout %gs, in parallel)"
                         % (len(targets), "" if len(targets) == 1 else "s", self.name, self.req.timeout))
        budget = self._log_budget()
        for _ in range(3):
            result = self.kube.logs(self.pod_name, self.namespace, self.name, state.phase == "running", on_line,
                                    budget, until=lambda line: probe.parse_line(targets, line) == probe.DONE)
            if result.expired:
                raise ProbeError("the probe in %s did not finish within %gs" % (self.name, budget),
                                 "name resolution may be hanging in the pod")
            if not result.ok:
                if not apierrors.is_not_started(result.stderr):
                    raise apierrors.classify(result.stderr, self.pod_name, self.namespace, "logs", self.name)
                state = self._wait()
                continue
            log = probe.parse_log(targets, result.stdout.splitlines())
            if log.complete:
                return log.verdicts
            # The log ended early: ask the container's state why, once.
            state = self._poll()
            if state.phase == "running":
                continue
            return probe.with_missing(targets, log, _ended_early(state, log))
        raise ProbeError("the log of %s kept ending before the probe finished" % self.name)

    def _interrupted(self) -> Interrupted:
        if not self.name:
            return Interrupted("interrupted; nothing was changed")
        if self.reusing:
            return Interrupted("interrupted; nothing was added: the probe ran in reach agent %s, which ends by itself"
                               % self.name)
        logs = self._logs_command()
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
