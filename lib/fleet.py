"""A fan-out: the same probe from many pods at once, each with one container for all its targets.

Jobs are built purely (checks and the pods they resolved to in, one Job per pod out); `run_all`
runs them in a bounded thread pool, each through the same Run as a single-pod check, and on
Ctrl-C ends every kubectl call and says which containers were added.
"""
from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .errors import Exit, ReachError, UsageError
from .kubectl import Kubectl
from .probe import Verdict
from .run import Request, Run, Ui
from .sources import Skipped
from .targets import Target

DEFAULT_PARALLEL = 10


class Job(NamedTuple):
    pod: Dict[str, Any]
    targets: Tuple[Target, ...]
    expects: Dict[Target, str]
    image: str
    timeout: float

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


def jobs(groups: Sequence[Tuple[Sequence[Dict[str, Any]], Sequence[Target], str, str, float]]) -> List[Job]:
    """One Job per pod: (pods, targets, expect, image, timeout) groups merged by pod, so a pod
    in several checks still gets one container. Conflicting asks are usage errors."""
    by_pod: Dict[str, Job] = {}
    for pods, targets, expect, image, timeout in groups:
        for pod in pods:
            key = "%s/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"])
            job = by_pod.get(key) or Job(pod, (), {}, image, timeout)
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
    """Run every job, at most `parallel` at once; outcomes in the jobs' order."""
    cancel = threading.Event()
    runs: Dict[str, Run] = {}
    kubes: List[Kubectl] = []
    lock = threading.Lock()

    def one(job: Job) -> PodOutcome:
        kube = make_kube()
        kube.cancel = cancel
        meta = job.pod["metadata"]
        request = base._replace(pod=meta["name"], namespace=meta["namespace"], targets=job.targets,
                                image=job.image, timeout=job.timeout)
        run = Run(request, kube, _PodUi(job.key, progress), pod=job.pod)
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

    outcomes: Dict[str, PodOutcome] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, parallel))
    futures: Dict[Future, Job] = {pool.submit(one, job): job for job in todo}
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for f in done:
                outcomes[futures[f].key] = f.result()
    except KeyboardInterrupt:
        cancel.set()
        for f in futures:
            f.cancel()
        with lock:
            for kube in kubes:
                kube.abort()
        pool.shutdown(wait=True)
        with lock:
            added = sorted("%s (pod %s)" % (r.name, key) for key, r in runs.items() if r.added)
            maybe = sorted("%s (pod %s)" % (r.name, key) for key, r in runs.items() if r.adding and not r.added)
        said = (["ephemeral containers added: " + ", ".join(added)] if added else []) + \
            (["being added, so perhaps added: " + ", ".join(maybe)] if maybe else [])
        raise Interrupted("interrupted" + (": " + "; ".join(said) if said else " before any container was added"),
                          "they stay in their pods; kubectl logs POD -n NS -c NAME shows what each printed"
                          if said else "") from None
    pool.shutdown(wait=True)
    return [outcomes[job.key] for job in todo]


class _PodUi(Ui):
    def __init__(self, key: str, progress: Callable[[str, str], None]):
        self.key, self.report = key, progress

    def progress(self, message: str) -> None:
        if message.startswith("probing"):
            self.report(self.key, "probing")


def exit_code(outcomes: Sequence[PodOutcome], skipped: Sequence[Skipped], dns_counts_as_closed: bool) -> Exit:
    """1 when an expectation is not met; else the first pod error's code; 3 when nothing ran."""
    if any(not met(v.outcome, o.expects.get(v.target, "open"), dns_counts_as_closed)
           for o in outcomes for v in o.verdicts):
        return Exit.UNREACHABLE
    errors = [o.error for o in outcomes if o.error is not None]
    if errors:
        return Exit(errors[0].exit_code)
    if not outcomes:
        return Exit.KUBERNETES
    return Exit.OK
