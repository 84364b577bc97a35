"""A fan-out: the same probe from many pods at once, each with one container for all its targets.

Jobs are built purely (checks and the pods they resolved to in, one Job per pod out); `run_all`
runs them in a bounded thread pool, each through the same Run as a single-pod check, and on
Ctrl-C ends every kubectl call and says which containers were added.
"""
from __future__ import annotations

import random
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import container
from .errors import Exit, ReachError, UsageError
from .kubectl import Kubectl
from .probe import Verdict
from .run import Request, Run, Ui
from .sources import Skipped
from .targets import Target
from .waiting import WatchFeed


class Job(NamedTuple):
    pod: Dict[str, Any]
    targets: Tuple[Target, ...]
    expects: Dict[Target, str]
    image: str
    timeout: float
    selector: Optional[str] = None   # the label selector that listed the pod, if one did

    @property
    def key(self) -> str:
        return "%s/%s" % (self.pod["metadata"]["namespace"], self.pod["metadata"]["name"])


class PodOutcome(NamedTuple):
    namespace: str
    pod: str
    container: str                       # "" when none was added
    verdicts: List[Verdict]
    expects: Dict[Target, str]
    error: Optional[ReachError] = None
    skipped: str = ""                    # why the pod did not run


def met(outcome: str, expect: str, dns_counts_as_closed: bool = False) -> bool:
    """Does a verdict meet the expectation? A DNS failure says nothing about the port: it is
    "closed" only when asked for."""
    if expect == "open":
        return outcome == "open"
    if outcome in ("refused", "timeout", "unreachable"):
        return True
    return outcome == "dns" and dns_counts_as_closed


def verdict_met(v: Verdict, expect: str, dns_counts_as_closed: bool = False) -> bool:
    """met() for a verdict: for a --dns target, `closed` means that the name does not resolve."""
    return met(v.outcome, expect, dns_counts_as_closed or v.target.scheme == "dns")


def inconclusive(v: Verdict, expect: str) -> bool:
    """UDP silence (no ICMP port-unreachable, no answer) against `closed`: a port a NetworkPolicy drops
    and one that listens without answering look the same, so it neither meets nor fails it, and
    counts as a probe that could not decide (exit 4). Against `open` it passes: nothing refused,
    which is all an `open` UDP verdict says (README: Probes)."""
    return expect == "closed" and v.udp_silence


INCONCLUSIVE = ("inconclusive for --expect closed: UDP silence is open or filtered, and a dropped datagram looks "
                "the same as a port that takes it without answering")


def jobs(groups: Sequence[Tuple[Sequence[Dict[str, Any]], Sequence[Target], str, str, float, Optional[str]]]
         ) -> List[Job]:
    """One Job per pod: (pods, targets, expect, image, timeout, selector) groups merged by pod, so a
    pod in several checks still gets one container. Conflicting asks are usage errors."""
    by_pod: Dict[str, Job] = {}
    for pods, targets, expect, image, timeout, selector in groups:
        for pod in pods:
            key = "%s/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"])
            job = by_pod.get(key) or Job(pod, (), {}, image, timeout, selector)
            if job.selector != selector:
                job = job._replace(selector=None)
            if job.image != image:
                raise UsageError("pod %s: checks ask for two images (%s, %s); one container per pod runs one image"
                                 % (key, job.image, image))
            expects = dict(job.expects)
            for t in targets:
                if expects.get(t, expect) != expect:
                    raise UsageError("pod %s: %s is expected both open and closed" % (key, t))
                expects[t] = expect
            merged = tuple(job.targets) + tuple(t for t in targets if t not in job.targets)
            by_pod[key] = job._replace(targets=merged, expects=expects, timeout=max(job.timeout, timeout))
    return list(by_pod.values())


class Interrupted(ReachError):
    exit_code = Exit.INTERRUPTED


def run_all(todo: Sequence[Job], make_kube: Callable[[], Kubectl], base: Request, parallel: int,
            progress: Callable[[str, str], None]) -> List[PodOutcome]:
    """Run every job; outcomes in the jobs' order.

    Every pod's container gets the same name, so one `get pods --watch` per namespace reports
    them all (a pod where the name is taken gets its own, and its own watch). Waiting costs no
    process then: --parallel bounds the kubectl processes the pods run at once (patch, logs).
    """
    cancel = threading.Event()
    slots = threading.Semaphore(max(1, parallel))
    runs: Dict[str, Run] = {}
    kubes: List[Kubectl] = []
    lock = threading.Lock()
    name = container.NAME_PREFIX + (base.name_suffix or container.random_suffix(random.Random()))
    feeds = {job.key: WatchFeed() for job in todo} if len(todo) > 1 else {}
    watcher = make_kube()
    kubes.append(watcher)

    def one(job: Job) -> PodOutcome:
        kube = make_kube()
        kube.cancel, kube.slots = cancel, slots
        meta = job.pod["metadata"]
        request = base._replace(pod=meta["name"], namespace=meta["namespace"], targets=job.targets,
                                image=job.image, timeout=job.timeout, name_suffix=name[len(container.NAME_PREFIX):])
        shared = (name, feeds[job.key]) if job.key in feeds else None
        run = Run(request, kube, _PodUi(job.key, progress), pod=job.pod, shared=shared)
        with lock:
            kubes.append(kube)
            runs[job.key] = run
        progress(job.key, "waiting for its container")
        try:
            result = run.execute()
            progress(job.key, "done")
            return PodOutcome(meta["namespace"], meta["name"], result.container, result.verdicts, job.expects)
        except ReachError as e:
            progress(job.key, "failed")
            return PodOutcome(meta["namespace"], meta["name"], run.name if run.added else "", [], job.expects, e)
        except Exception as e:   # a bug, or the system (too many open files): this pod's error, not the run's
            progress(job.key, "failed")
            error = ReachError("internal error: %s: %s" % (type(e).__name__, e), "rerun with -v and report it",
                               Exit.PROBE)
            return PodOutcome(meta["namespace"], meta["name"], run.name if run.added else "", [], job.expects, error)

    outcomes: Dict[str, PodOutcome] = {}
    watches: List[Any] = []
    # Threads mostly wait (for a container, a slot); the slots bound the work.
    pool = ThreadPoolExecutor(max_workers=max(1, min(len(todo), MAX_THREADS)))
    futures: Dict[Future, Job] = {}
    try:
        if feeds:   # started before any patch: a watch reports from its start on
            watches = [_watch(watcher, ns, group, name, feeds) for ns, group in _by_namespace(todo).items()]
        futures = {pool.submit(one, job): job for job in todo}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for f in done:
                outcomes[futures[f].key] = f.result()
    except KeyboardInterrupt:
        # A second signal is ignored (interrupts): the clean-up and the names complete.
        cancel.set()
        for f in futures:
            f.cancel()
        with lock:
            for kube in kubes:
                kube.abort()
        pool.shutdown(wait=True)
        with lock:
            added = sorted("%s (pod %s)" % (r.name, key) for key, r in runs.items() if r.added)
            maybe = sorted("%s (pod %s)" % (r.name, key) for key, r in runs.items() if r.kube.wrote and not r.added)
        said = (["ephemeral containers added: " + ", ".join(added)] if added else []) + \
            (["being added, so perhaps added: " + ", ".join(maybe)] if maybe else [])
        raise Interrupted("interrupted" + (": " + "; ".join(said) if said else " before any container was added"),
                          "they stay in their pods; kubectl logs POD -n NS -c NAME shows what each printed"
                          if said else "") from None
    finally:
        for w in watches:
            w.stop(collect=False)
    pool.shutdown(wait=True)
    return [outcomes[job.key] for job in todo]


MAX_THREADS = 256


def _by_namespace(todo: Sequence[Job]) -> Dict[str, List[Job]]:
    groups: Dict[str, List[Job]] = {}
    for job in todo:
        groups.setdefault(job.pod["metadata"]["namespace"], []).append(job)
    return groups


def _watch(kube: Kubectl, namespace: str, group: List[Job], name: str, feeds: Dict[str, WatchFeed]) -> Any:
    """One watch for a namespace's pods: narrowed by their selector when they share one."""
    selectors = {job.selector for job in group}
    selector = selectors.pop() if len(selectors) == 1 else None

    def on_state(key: str, text: str) -> None:
        feed = feeds.get(key)
        if feed is not None:
            feed.put(text)

    def on_end() -> None:  # no right to watch, or the watch broke: those pods poll instead
        for job in group:
            feeds[job.key].close()
    return kube.watch_states(namespace, selector, name, on_state, on_end)


class _PodUi(Ui):
    def __init__(self, key: str, progress: Callable[[str, str], None]):
        self.key, self.report = key, progress

    def progress(self, message: str) -> None:
        if message.startswith("probing"):
            self.report(self.key, "probing")


def exit_code(outcomes: Sequence[PodOutcome], skipped: Sequence[Skipped], dns_counts_as_closed: bool) -> Exit:
    """1 when an expectation is not met; else the first pod error's code (4 for a verdict the probe
    could not decide, as for one pod, and for UDP silence expected closed); 3 when nothing ran."""
    def undecided(o: PodOutcome, v: Verdict) -> bool:
        return v.outcome == "error" or inconclusive(v, o.expects.get(v.target, "open"))

    if any(not undecided(o, v) and not verdict_met(v, o.expects.get(v.target, "open"), dns_counts_as_closed)
           for o in outcomes for v in o.verdicts):
        return Exit.UNREACHABLE
    errors = [o.error for o in outcomes if o.error is not None]
    if errors:
        return Exit(errors[0].exit_code)
    if any(undecided(o, v) for o in outcomes for v in o.verdicts):
        return Exit.PROBE
    if not outcomes:
        return Exit.KUBERNETES
    return Exit.OK
