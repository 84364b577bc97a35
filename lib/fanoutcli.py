"""The command line of a fan-out: many pods, expectations, reports (fleet.py runs it)."""
from __future__ import annotations

import argparse
import threading
import time
from typing import Dict, Optional, TextIO

from . import fleet, fleetreport, manifests, plan, report, sources
from .cli import DEFAULT_PARALLEL, make_request, request_targets
from .errors import ReachError, UsageError
from .kubectl import Kubectl
from .terminal import TerminalUi, wants_color


def run(args: argparse.Namespace, env: dict, ui: TerminalUi, out: TextIO, err: TextIO) -> int:
    """Many pods: resolve every check's pods, one job per pod, run them in parallel, report."""
    started = time.monotonic()
    if args.tap and args.output != "text":
        raise UsageError("--tap prints TAP instead of -o %s: give one of them" % args.output)
    if args.filename:
        if args.pod or args.selector or args.to or args.dns:
            raise UsageError("-f PLAN holds the sources and targets: give no POD, -l, --to or --dns with it")
        docs = manifests.parse(manifests.read_text(args.filename), args.filename)
        if len(docs) != 1:
            raise UsageError("%s: one plan per file (it holds %d YAML documents)" % (args.filename, len(docs)))
        checks = plan.parse(docs[0], args.filename)
    else:
        if bool(args.pod) == bool(args.selector):
            raise UsageError("give either POD (a pod or a workload such as deploy/web) or -l SELECTOR")
        if not args.to and not args.dns:
            raise UsageError("missing --to: name at least one target, e.g. --to db:5432 (or a name to resolve: --dns db)")
        source = sources.parse_ref(args.pod) if args.pod else sources.Source(selector=args.selector)
        if args.all_namespaces and not args.selector:
            raise UsageError("-A goes with -l SELECTOR: a pod or a workload is in one namespace (give -n)")
        checks = [plan.Check(source, request_targets(args), args.expect)]
    junit = _open_report(args.junit)   # before the run: an unwritable path must not cost the results
    base = make_request(argparse.Namespace(**dict(vars(args), pod=None, to=["placeholder:1"], dns=[])), env,
                        need_pod=False)

    def make_kube() -> Kubectl:
        return Kubectl(args.kubectl, args.context, args.kubeconfig, args.verbose, err, env.get("REACH_RECORD"))
    kube = make_kube()
    groups, skipped, failed = [], [], []
    for check in checks:
        src = check.source._replace(namespace=check.source.namespace or args.namespace,
                                    all_namespaces=check.source.all_namespaces or args.all_namespaces)
        try:
            if src.pod:
                (runnable, skip), selector = sources.split([kube.get_pod(src.pod, src.namespace)], False), None
            else:
                runnable, skip, selector = sources.resolve(kube, src, args.one)
        except UsageError:
            raise
        except ReachError as e:   # this check cannot run; the others still do
            failed.append(fleet.PodOutcome(src.namespace or "", src.describe(), "", [],
                                           {t: check.expect for t in check.targets}, e))
            continue
        groups.append((runnable, check.targets, check.expect, check.image or base.image,
                       check.timeout or base.timeout, selector))
        skipped += [(s, {t: check.expect for t in check.targets}) for s in skip]
    if not groups and failed:   # nothing could even be listed: a plain error, as for one pod
        raise failed[0].error
    todo = fleet.jobs(groups)
    show = _FanOutProgress(err, len(todo), enabled=not args.quiet and wants_color(err))
    try:
        outcomes = fleet.run_all(todo, make_kube, base, args.parallel or DEFAULT_PARALLEL, show.update) + failed
    finally:
        show.close()
    rows = fleetreport.rows(outcomes, skipped, args.dns_counts_as_closed)
    code = fleet.exit_code(outcomes, [s for s, _ in skipped], args.dns_counts_as_closed)
    if junit:
        with junit:
            junit.write(fleetreport.junit(rows, time.monotonic() - started))
    if args.tap:
        out.write(fleetreport.tap(rows))
    elif args.output == "text":
        body = fleetreport.matrix(rows, ui.style) if wants_color(out) else fleetreport.lines(rows, ui.style)
        out.write("".join(line + "\n" for line in body) + fleetreport.summary(rows) + "\n")
    else:
        out.write(report.render(fleetreport.document(rows, int(code)), args.output))
    return int(code)


def _open_report(path: Optional[str]) -> Optional[TextIO]:
    if not path:
        return None
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as e:
        raise UsageError("cannot write %s: %s" % (path, e.strerror or e)) from None


class _FanOutProgress:
    """One status line on a terminal's stderr: how many pods wait, probe, are done."""

    def __init__(self, err: TextIO, total: int, enabled: bool):
        self.err, self.total, self.enabled = err, total, enabled
        self.state: Dict[str, str] = {}
        self.lock = threading.Lock()

    def update(self, pod: str, what: str) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.state[pod] = what
            counts = {w: sum(1 for v in self.state.values() if v == w)
                      for w in ("waiting for its container", "probing", "done", "failed")}
            self.err.write("\r\033[Kreach: %d/%d pods done, %d waiting for their container, %d probing%s"
                           % (counts["done"] + counts["failed"], self.total, counts["waiting for its container"],
                              counts["probing"], ", %d failed" % counts["failed"] if counts["failed"] else ""))
            self.err.flush()

    def close(self) -> None:
        if self.enabled and self.state:
            self.err.write("\r\033[K")
            self.err.flush()
