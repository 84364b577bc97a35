"""Command line: parse and validate flags, run, print, and map every outcome to an exit code.

The only place that prints errors or exits.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from typing import Dict, List, Optional, Sequence, TextIO

from . import __version__, completion, container, fleet, manifests, preview, report, sources
from .errors import Exit, ReachError, UsageError
from .kubectl import Kubectl
from .probe import Verdict
from .run import Request, Run, RunResult, Ui, exit_code
from .targets import Target, parse_duration, parse_target

EXAMPLES = """\
examples:
  # can pod web reach the database and the payment API?
  {prog} web -n shop --to db:5432 --to payments.example.com:443

  # machine-readable, for CI (exit code 0 only if every target is open)
  {prog} web -n shop --to db:5432 -o json

  # share the process namespace of one container, with another probe image
  {prog} web -n shop --to 10.0.0.5:8080 --target app --image nicolaka/netshoot:v0.13

  # no cluster at hand: replay a recorded session
  {prog} --demo

  # from every pod of a workload; does the NetworkPolicy block it? (JUnit for CI)
  {prog} deploy/web -n shop --to db:5432 --expect closed --junit report.xml

  # why is it not reachable? the Service, endpoints and NetworkPolicies on the path
  {prog} web -n shop --to db:5432 --explain            # after the probe, for what failed
  {prog} explain web -n shop --to db:5432              # read-only prediction: no container added

  # print the patch without changing anything (no cluster needed with --pod-file), then lint it
  {prog} web --to db:5432 --print-patch --name reach-ci --pod-file pod.json > patch.json
  {prog} lint patch.json --pod-file pod.json --level baseline

exit codes:
  0    every target reachable
  1    at least one target not reachable (refused, timeout, dns, unreachable)
  2    usage error
  3    Kubernetes or kubectl error (not found, forbidden, unsupported, rejected)
  4    the probe could not run or could not decide (image pull, start error, deadline)
  130  interrupted

RBAC needed: get (and, to be fast, watch) pods; get and patch pods/ephemeralcontainers
(update with kubectl < 1.32); get pods/log. Each run adds one ephemeral container
(reach-xxxxx) to the pod: it does not restart the pod or change its readiness, and it
can never be removed.
"""


def prog_name(argv0: str) -> str:
    base = os.path.basename(argv0)
    if base.startswith(("kubectl-reach", "kubectl_reach")):
        return "kubectl reach"
    return base or "reach.py"


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s POD --to HOST:PORT [--to HOST:PORT ...] [-n NAMESPACE] [flags]",
        description="Can this pod reach that host:port, right now, from inside its own network namespace?\n"
                    "Adds one ephemeral container to the running pod, probes every target from it, and\n"
                    "prints a verdict per target: open, refused, timeout, dns, unreachable or error.",
        epilog=EXAMPLES.format(prog=prog))
    p.add_argument("pod", nargs="?", metavar="POD", help="the running pod to probe from")
    p.add_argument("--to", action="append", default=[], metavar="HOST:PORT",
                   help="target to probe (repeatable, or comma-separated); IPv6 as [::1]:443")
    p.add_argument("-n", "--namespace", help="the pod's namespace (default: the context's namespace)")
    p.add_argument("--context", help="kubeconfig context to use")
    p.add_argument("--kubeconfig", help="path to the kubeconfig file")
    p.add_argument("--image", default=container.DEFAULT_IMAGE,
                   help="probe image, with sh and nc (default: %(default)s)")
    p.add_argument("--image-pull-policy", default=container.DEFAULT_PULL_POLICY,
                   choices=container.PULL_POLICIES, help="default: %(default)s")
    p.add_argument("--timeout", default="3s", help="connect timeout per target: 5, 5s, 1m (default: %(default)s)")
    p.add_argument("--start-timeout", default="60s",
                   help="how long the probe container may take to start (default: %(default)s)")
    p.add_argument("--target", metavar="CONTAINER",
                   help="share the process namespace of this container (targetContainerName)")
    p.add_argument("-o", "--output", default="text", choices=("text", "json", "yaml"), help="default: text")
    p.add_argument("-v", "--verbose", action="store_true", help="show each kubectl command; tracebacks on bugs")
    p.add_argument("--kubectl", default=os.environ.get("KUBECTL") or "kubectl",
                   help="kubectl binary (default: $KUBECTL or kubectl on PATH)")
    many = p.add_argument_group("many pods: a fan-out (one container per pod, all its targets in it)")
    many.add_argument("-l", "--selector", help="run from every Running pod these labels select (e.g. app=web)")
    many.add_argument("-A", "--all-namespaces", action="store_true", help="with -l: in every namespace")
    many.add_argument("--one", action="store_true", help="one pod per workload (its controller) only")
    many.add_argument("--parallel", type=_positive, metavar="N",
                      help="kubectl processes the pods run at once (default: %d)" % fleet.DEFAULT_PARALLEL)
    many.add_argument("-f", "--filename", metavar="PLAN", help="a plan file of checks (YAML or JSON): see README")
    many.add_argument("--expect", choices=("open", "closed"), default="open",
                      help="what the targets should be (default: open); closed passes on refused, timeout, "
                           "unreachable")
    many.add_argument("--dns-counts-as-closed", action="store_true",
                      help="with --expect closed: a name that does not resolve passes too")
    many.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one testcase per pod x target)")
    many.add_argument("--tap", action="store_true", help="print TAP version 14 instead of text")
    many.add_argument("-q", "--quiet", action="store_true", help="nothing on stderr but errors")
    p.add_argument("--explain", action="store_true",
                   help="for each target not open, read (only) the Service, endpoints and NetworkPolicies on "
                        "the path and say why")
    p.add_argument("--demo", action="store_true", help="replay a recorded session; needs no cluster")
    dry = p.add_argument_group("print the patch instead of sending it (see also: %s lint --help)" % prog)
    dry.add_argument("--print-patch", action="store_true",
                     help="print the body reach would send and exit 0; changes nothing")
    dry.add_argument("--dry-run", metavar="client",
                     help="--dry-run=client (or --dry-run) is --print-patch, as kubectl spells it")
    dry.add_argument("--pod-file", metavar="FILE",
                     help="the pod as kubectl get pod -o json|yaml prints it ('-': stdin); no cluster needed")
    dry.add_argument("--patch-type", choices=preview.PATCH_TYPES, default="strategic",
                     help="strategic (default), or replace: the whole pod, as PUT with kubectl < 1.32")
    dry.add_argument("--name", help="container name to print (default: reach-<random>); fixed for golden files")
    p.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return p


def pod_name(text: str) -> str:
    """POD as kubectl takes it: NAME, or pod/NAME (which also reaches a pod named lint)."""
    kind, slash, name = text.partition("/")
    if slash and kind in ("pod", "pods", "po"):
        return name
    if slash:
        raise UsageError("POD %r: give a pod name, or pod/NAME" % text)
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("expected a whole number of 1 or more, not %r" % text)
    return value


def parse_targets(values: Sequence[str]) -> List[Target]:
    targets: List[Target] = []
    for value in values:
        for item in value.split(","):
            target = parse_target(item)
            if target not in targets:
                targets.append(target)
    return targets


def make_request(args: argparse.Namespace, env: dict, need_pod: bool = True) -> Request:
    """Validate everything before anything touches the cluster."""
    if not args.pod and need_pod:
        raise UsageError("missing POD: name the running pod to probe from")
    if not args.to:
        raise UsageError("missing --to: name at least one target, e.g. --to db:5432")
    if not args.image or args.image != args.image.strip():
        raise UsageError("--image %r: give an image reference without surrounding spaces, e.g. busybox:1.36"
                         % args.image)
    suffix = env.get("REACH_NAME_SUFFIX") or None
    if suffix and not container.is_valid_name(container.NAME_PREFIX + suffix):
        raise UsageError("REACH_NAME_SUFFIX %r does not make a valid container name" % suffix)
    return Request(pod=pod_name(args.pod or ""), namespace=args.namespace, targets=parse_targets(args.to),
                   image=args.image,
                   pull_policy=args.image_pull_policy, timeout=parse_duration(args.timeout, "--timeout"),
                   start_timeout=parse_duration(args.start_timeout, "--start-timeout"),
                   target_container=args.target, name_suffix=suffix)


class TerminalUi(Ui):
    def __init__(self, out: TextIO, err: TextIO, output: str, quiet: bool = False):
        self.out, self.err, self.output, self.quiet = out, err, output, quiet
        self.style = report.Style(color=_wants_color(out), unicode=_can_encode(out, "✓✗"))
        self.shown: set = set()

    def progress(self, message: str) -> None:
        if self.quiet:
            return
        try:
            self.err.write("%s\n" % message)
            self.err.flush()
        except BrokenPipeError:  # stderr closed (2>&1 | head): progress is not worth a failed run
            self.err = open(os.devnull, "w")

    def verdict(self, verdict: Verdict) -> None:
        # Called from the thread that reads kubectl's output: a closed pipe (reach ... | head -1)
        # must not become a traceback there; the run goes on and its exit code stays right.
        if self.output == "text" and verdict.target not in self.shown:
            self.shown.add(verdict.target)
            try:
                self.out.write(report.verdict_line(verdict, self.style) + "\n")
                self.out.flush()
            except BrokenPipeError:
                self.out = open(os.devnull, "w")

    def finish(self, result: RunResult, explanations: Optional[dict] = None) -> None:
        explanations = explanations or {}
        if self.output == "text":
            for verdict in result.verdicts:  # those the log never reported
                self.verdict(verdict)
            self.out.write(report.summary_line(result) + "\n")
            for verdict in result.verdicts:
                if verdict.target in explanations:
                    lines = report.why_lines(verdict.target, verdict.outcome, explanations[verdict.target].lines)
                    self.out.write("".join(line + "\n" for line in lines))
        else:
            self.out.write(report.render(report.document(result, explanations), self.output))


def _wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def main(argv: Optional[List[str]] = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
         env: Optional[dict] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    prog = prog_name(sys.argv[0])
    if argv[:1] == ["__complete"] or completion.is_helper(sys.argv[0]):  # first: its words may be "lint"
        from . import lintcli
        words = argv[1:] if argv[:1] == ["__complete"] else argv
        return completion.main(words, build_parser("kubectl reach"), lintcli.build_parser("kubectl reach"), out, env)
    if argv[:1] == ["lint"]:
        from . import lintcli  # not part of a probe run's start-up
        return lintcli.main(argv[1:], prog, out, err)
    predict = argv[:1] == ["explain"]
    argv = argv[1:] if predict else argv
    # kubectl's --dry-run takes no separate word: bare, it means client (the next word is the pod).
    argv = ["--dry-run=client" if a == "--dry-run" else a for a in argv]
    args = build_parser(prog).parse_args(argv)
    try:
        ui = TerminalUi(out, err, args.output, args.quiet)
        if args.demo:
            from . import demo  # only here: it is no part of a real run's start-up
            ui.progress(demo.prepare(args, env, explain=predict))
        if args.dry_run is not None or args.print_patch:
            return _print_patch(args, env, out, err)
        if predict:
            return _predict(args, env, ui, out)
        if _is_fan_out(args):
            _terminate_like_ctrl_c()
            return _fan_out(args, env, ui, out, err)
        for flag, given in (("--pod-file", args.pod_file), ("--name", args.name),
                            ("--patch-type", args.patch_type != "strategic")):
            if given:
                raise UsageError("%s goes with --print-patch: a run reads the live pod, names its container anew "
                                 "and picks the request kubectl supports" % flag)
        for flag, given in (("--one", args.one), ("--parallel", args.parallel)):
            if given:
                raise UsageError("%s goes with many pods (-l, a workload such as deploy/web, or -f)" % flag)
        _terminate_like_ctrl_c()
        request = make_request(args, env)
        kube = Kubectl(args.kubectl, args.context, args.kubeconfig, args.verbose, err, env.get("REACH_RECORD"))
        result = Run(request, kube, ui).execute()
        explanations = _explanations(args, kube, result, ui)
        try:
            ui.finish(result, explanations)
        except BrokenPipeError:
            sys.stdout = open(os.devnull, "w")  # the reader left; the exit code still tells
        if args.expect == "closed":
            return int(fleet.exit_code([fleet.PodOutcome(result.namespace, result.pod, result.container,
                                                         result.verdicts, {v.target: "closed" for v in
                                                                           result.verdicts})], [],
                                       args.dns_counts_as_closed))
        return int(exit_code(result.verdicts))
    except ReachError as e:
        return _fail(e, args, prog, out, err)
    except KeyboardInterrupt:
        err.write("\ninterrupted\n")
        return int(Exit.INTERRUPTED)
    except Exception as e:  # a bug: say so in one line, unless -v asks for the traceback
        if args.verbose:
            traceback.print_exc(file=err)
        err.write("error: internal error: %s: %s; rerun with -v for the traceback and report it\n"
                  % (type(e).__name__, e))
        return int(Exit.PROBE)


def _is_fan_out(args: argparse.Namespace) -> bool:
    workload = bool(args.pod) and bool(sources.parse_ref(args.pod).workload)
    return bool(args.selector or args.filename or args.all_namespaces or workload or args.junit or args.tap)


def _fan_out(args: argparse.Namespace, env: dict, ui: TerminalUi, out: TextIO, err: TextIO) -> int:
    """Many pods: resolve every check's pods, one job per pod, run them in parallel, report."""
    import time

    from . import fleetreport, plan
    started = time.monotonic()
    if args.tap and args.output != "text":
        raise UsageError("--tap prints TAP instead of -o %s: give one of them" % args.output)
    if args.filename:
        if args.pod or args.selector or args.to:
            raise UsageError("-f PLAN holds the sources and targets: give no POD, -l or --to with it")
        docs = manifests.parse(manifests.read_text(args.filename), args.filename)
        if len(docs) != 1:
            raise UsageError("%s: one plan per file (it holds %d YAML documents)" % (args.filename, len(docs)))
        checks = plan.parse(docs[0], args.filename)
    else:
        if bool(args.pod) == bool(args.selector):
            raise UsageError("give either POD (a pod or a workload such as deploy/web) or -l SELECTOR")
        if not args.to:
            raise UsageError("missing --to: name at least one target, e.g. --to db:5432")
        source = sources.parse_ref(args.pod) if args.pod else sources.Source(selector=args.selector)
        if args.all_namespaces and not args.selector:
            raise UsageError("-A goes with -l SELECTOR: a pod or a workload is in one namespace (give -n)")
        checks = [plan.Check(source, parse_targets(args.to), args.expect)]
    junit = _open_report(args.junit)   # before the run: an unwritable path must not cost the results
    base = make_request(argparse.Namespace(**dict(vars(args), pod=None, to=args.to or ["placeholder:1"])), env,
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
    show = _FanOutProgress(err, len(todo), enabled=not args.quiet and _wants_color(err))
    try:
        outcomes = fleet.run_all(todo, make_kube, base, args.parallel or fleet.DEFAULT_PARALLEL, show.update) + failed
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
        body = fleetreport.matrix(rows, ui.style) if _wants_color(out) else fleetreport.lines(rows, ui.style)
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


def _explanations(args: argparse.Namespace, kube: Kubectl, result: RunResult, ui: TerminalUi) -> dict:
    """--explain: why each target that is not open is not; without it, a hint that it exists."""
    failed = [v for v in result.verdicts if not v.reachable]
    if not failed:
        return {}
    if not args.explain:
        ui.progress("hint: --explain reads the Service, endpoints and NetworkPolicies on the path (read-only)")
        return {}
    from . import explain, reads
    try:
        cluster = reads.read(kube, result.source or {}, [v.target for v in failed])
        return {v.target: explain.explain(result.source or {}, v.target, cluster, v.outcome) for v in failed}
    except ReachError as e:  # the verdicts stand; only the why is missing
        ui.progress("explain: could not read the path: %s" % e.message)
    except Exception as e:  # a bug in the explanation must not cost the verdicts of a probe that ran
        ui.progress("explain: internal error: %s: %s; the verdicts stand" % (type(e).__name__, e))
    return {}


def _predict(args: argparse.Namespace, env: dict, ui: TerminalUi, out: TextIO) -> int:
    """`reach explain`: the reading and the policy evaluation alone; nothing added to the pod."""
    from . import explain, reads
    request = make_request(args, env)
    kube = Kubectl(args.kubectl, args.context, args.kubeconfig, args.verbose, ui.err, env.get("REACH_RECORD"))
    pod = kube.get_pod(request.pod, request.namespace)
    cluster = reads.read(kube, pod, request.targets)
    found = [(t, explain.explain(pod, t, cluster)) for t in request.targets]
    where = "%s/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"])
    if args.output == "text":
        out.write("prediction from pod %s (read-only: nothing added to the pod, nothing probed)\n" % where)
        for target, e in found:
            out.write(report.prediction_line(target, e.causes, e.unknown, ui.style) + "\n")
            out.write("".join("    %s\n" % line for line in e.lines))
    else:
        out.write(report.render({"pod": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
                                 "predicted": True, "kubectlCalls": kube.calls,
                                 "targets": [{"target": str(t), "blocked": bool(e.causes), "causes": e.causes,
                                              "undecided": list(e.unknown) if not e.causes else [],
                                              "explain": e.document} for t, e in found]}, args.output))
    if any(e.causes for _, e in found):
        return int(Exit.UNREACHABLE)
    return int(Exit.PROBE if any(e.unknown for _, e in found) else Exit.OK)


def _print_patch(args: argparse.Namespace, env: dict, out: TextIO, err: TextIO) -> int:
    if args.dry_run not in (None, "client"):
        raise UsageError("--dry-run=%s is not supported: --dry-run=client (or --print-patch) prints the patch, "
                         "and `reach lint` checks it as the API server would" % args.dry_run)
    request = make_request(args, env, need_pod=False)
    pod = None
    if args.pod_file:
        pod = manifests.read_pod(args.pod_file)
        name = pod["metadata"].get("name")
        if request.pod and request.pod != name:
            raise UsageError("POD is %s but --pod-file holds pod %s" % (request.pod, name))
    elif request.pod:  # read-only, like kubectl patch --dry-run=client
        pod = Kubectl(args.kubectl, args.context, args.kubeconfig, args.verbose, err).get_pod(request.pod,
                                                                                              args.namespace)
    name = preview.pick_name(pod, args.name, request.name_suffix)
    spec = container.Spec(name, request.image, request.pull_policy, request.targets, request.timeout,
                          request.target_container)
    out.write(preview.render(preview.body(spec, pod, args.patch_type), "yaml" if args.output == "yaml" else "json"))
    return int(Exit.OK)


def _terminate_like_ctrl_c() -> None:
    """SIGTERM (a cancelled CI job, kill) takes Ctrl-C's path: kubectl calls are ended and the
    message names the container."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (reach used as a library)
        pass


def _fail(e: ReachError, args: argparse.Namespace, prog: str, out: TextIO, err: TextIO) -> int:
    if args.verbose and getattr(e, "stderr", ""):
        err.write("kubectl said: %s\n" % e.stderr)
    line = "error: %s" % e.message
    if e.hint:
        line += "; %s" % e.hint
    if e.exit_code == Exit.USAGE:
        line += " (see %s --help)" % prog
    try:
        err.write(line + "\n")
        if args.output in ("json", "yaml") and e.exit_code != Exit.USAGE:
            out.write(report.render(report.error_document(e, args.pod, args.namespace), args.output))
    except BrokenPipeError:
        pass  # the reader left; the exit code still tells
    return int(e.exit_code)
