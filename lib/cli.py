"""Command line: parse and validate flags, run, print, and map every outcome to an exit code.

The only place that prints errors or exits.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Any, List, NoReturn, Optional, Sequence, TextIO

from . import __version__, container, preview, report, sources
from .errors import Exit, ReachError, UsageError
from .kubectl import Kubectl
from .run import Request, Run, exit_code
from .targets import Target, parse_dns, parse_duration, parse_target
from .terminal import TerminalUi

DEFAULT_PARALLEL = 10   # kubectl processes a fan-out runs at once

EXAMPLES = """\
examples:
  # can pod web reach the database and the payment API?
  {prog} web -n shop --to db:5432 --to payments.example.com:443

  # machine-readable, for CI (exit code 0 only if every target is open)
  {prog} web -n shop --to db:5432 -o json

  # UDP (open means: not refused), a name lookup with the pod's resolver, an HTTP status code
  {prog} web -n shop --to udp://kube-dns.kube-system:53 --dns db --to http://api:8080/healthz

  # share the process namespace of one container, with another probe image
  {prog} web -n shop --to 10.0.0.5:8080 --target app --image nicolaka/netshoot:v0.13

  # no cluster at hand: replay a recorded session
  {prog} --demo

  # from every pod of a workload; does the NetworkPolicy block it? (JUnit for CI)
  {prog} deploy/web -n shop --to db:5432 --expect closed --junit report.xml

  # no container piling up: reuse a reach agent (kubectl exec); or probe from a copy, or a node
  {prog} web -n shop --to db:5432 --reuse
  {prog} web -n shop --to db:5432 --copy-to web-reach          # the copy is deleted afterwards
  {prog} node/worker-1 -n ops --to registry.example.com:443    # the node's host network

  # why is it not reachable? the Service, endpoints and NetworkPolicies on the path
  {prog} web -n shop --to db:5432 --explain            # after the probe, for what failed
  {prog} explain web -n shop --to db:5432              # read-only prediction: no container added

  # print the patch without changing anything (no cluster needed with --pod-file), then lint it
  {prog} web --to db:5432 --print-patch --name reach-ci --pod-file pod.json > patch.json
  {prog} lint patch.json --pod-file pod.json --level baseline

exit codes:
  0    every target reachable
  1    at least one target not reachable (refused, timeout, dns, unreachable, tls)
  2    usage error
  3    Kubernetes or kubectl error (not found, forbidden, unsupported, rejected)
  4    the probe could not run or could not decide (image pull, start error, deadline)
  130  interrupted

RBAC needed: get (and, to be fast, watch) pods; get and patch pods/ephemeralcontainers
(update with kubectl < 1.32); get pods/log. Each run adds one ephemeral container
(reach-xxxxx) to the pod: it does not restart the pod or change its readiness, and it
can never be removed. --reuse also needs create on pods/exec; --copy-to and node/NAME
need create and delete on pods (node/NAME: get nodes and namespaces too).
"""


def prog_name(argv0: str) -> str:
    base = os.path.basename(argv0)
    if base.startswith(("kubectl-reach", "kubectl_reach")):
        return "kubectl reach"
    return base or "reach.py"


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in reach's form: one line, then where to look."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(int(Exit.USAGE), "error: %s (see %s --help)\n" % (message, self.prog))


def build_parser(prog: str, predict: bool = False) -> argparse.ArgumentParser:
    if predict:
        return _predict_parser(prog)
    p = Parser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s POD --to HOST:PORT [--to HOST:PORT ...] [-n NAMESPACE] [flags]",
        description="Can this pod reach that host:port, right now, from inside its own network namespace?\n"
                    "Adds one ephemeral container to the running pod, probes every target from it, and\n"
                    "prints a verdict per target: open, refused, timeout, dns, unreachable, tls or error.",
        epilog=EXAMPLES.format(prog=prog))
    p.add_argument("pod", nargs="?", metavar="POD", help="the running pod to probe from")
    p.add_argument("--to", action="append", default=[], metavar="HOST:PORT",
                   help="target to probe (repeatable, or comma-separated); IPv6 as [::1]:443; also udp://HOST:PORT, "
                        "http(s)://HOST[:PORT]/PATH (the status code)")
    p.add_argument("--dns", action="append", default=[], metavar="NAME",
                   help="a name to resolve with the pod's resolver and search domains (repeatable, or comma-separated)")
    p.add_argument("--insecure", action="store_true",
                   help="https:// targets: do not verify the server's certificate")
    p.add_argument("-n", "--namespace", help="the pod's namespace (default: the context's namespace)")
    p.add_argument("--context", help="kubeconfig context to use")
    p.add_argument("--kubeconfig", help="path to the kubeconfig file")
    p.add_argument("--image", default=container.DEFAULT_IMAGE,
                   help="probe image, with sh and nc (udp: nc -u; --dns: getent or nslookup; http(s): curl or wget) "
                        "(default: %(default)s)")
    p.add_argument("--image-pull-policy", default=container.DEFAULT_PULL_POLICY,
                   choices=container.PULL_POLICIES, help="default: %(default)s")
    p.add_argument("--timeout", default="3s", help="connect timeout per target: 5, 5s, 1m (default: %(default)s)")
    p.add_argument("--start-timeout", default="60s",
                   help="how long the probe container may take to start (default: %(default)s)")
    p.add_argument("--bypass-mesh", action="store_true",
                   help="run the probe as UID 1337, which Istio's sidecar does not capture (changes the "
                        "container's securityContext)")
    p.add_argument("--target", metavar="CONTAINER",
                   help="share the process namespace of this container (targetContainerName)")
    ways = p.add_argument_group("other ways to reach (default: one ephemeral container per run)")
    ways.add_argument("--reuse", action="store_true",
                      help="probe with kubectl exec in a running reach agent of the pod; without one, add an "
                           "agent that idles --keep-alive after its probe")
    ways.add_argument("--keep-alive", metavar="DURATION",
                      help="with --reuse: how long a new agent idles without use before it ends (default: 10m)")
    ways.add_argument("--copy-to", metavar="NAME",
                      help="probe from a copy of the pod named NAME (the pod is only read); deleted afterwards")
    ways.add_argument("--isolate", action="store_true", help="with --copy-to: the copy drops the pod's labels")
    ways.add_argument("--same-node", action="store_true", help="with --copy-to: the copy runs on the pod's node")
    ways.add_argument("--share-processes", action="store_true",
                      help="with --copy-to: the copy's containers share one process namespace")
    ways.add_argument("--keep", action="store_true",
                      help="with --copy-to or node/NAME: keep the pod reach created instead of deleting it")
    p.add_argument("-o", "--output", default="text", choices=("text", "json", "yaml"), help="default: text")
    p.add_argument("-v", "--verbose", action="store_true", help="show each kubectl command; tracebacks on bugs")
    p.add_argument("--kubectl", default=os.environ.get("KUBECTL") or "kubectl",
                   help="kubectl binary (default: $KUBECTL or kubectl on PATH)")
    many = p.add_argument_group("many pods: a fan-out (one container per pod, all its targets in it)")
    many.add_argument("-l", "--selector", help="run from every Running pod these labels select (e.g. app=web)")
    many.add_argument("-A", "--all-namespaces", action="store_true", help="with -l: in every namespace")
    many.add_argument("--one", action="store_true", help="one pod per workload (its controller) only")
    many.add_argument("--parallel", type=_positive, metavar="N",
                      help="kubectl processes the pods run at once (default: %d)" % DEFAULT_PARALLEL)
    many.add_argument("-f", "--filename", metavar="PLAN", help="a plan file of checks (YAML or JSON): see README")
    many.add_argument("--expect", choices=("open", "closed"), default="open",
                      help="what the targets should be (default: open); closed passes on refused, timeout, "
                           "unreachable; udp:// silence (open, or filtered) passes open and is inconclusive for "
                           "closed (exit 4)")
    many.add_argument("--dns-counts-as-closed", action="store_true",
                      help="with --expect closed: a name that does not resolve passes too")
    many.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one testcase per pod x target)")
    many.add_argument("--tap", action="store_true", help="print TAP version 14 instead of text")
    many.add_argument("-q", "--quiet", action="store_true", help="nothing on stderr but errors")
    p.add_argument("--explain", action="store_true",
                   help="for each target not open, read (only) the Service, endpoints and NetworkPolicies on "
                        "the path and say why")
    p.add_argument("--demo", action="store_true",
                   help="replay a recorded session (python reach.py --demo, in a checkout); needs no cluster")
    dry = p.add_argument_group("print the patch instead of sending it (see also: %s lint --help)" % prog)
    dry.add_argument("--print-patch", action="store_true",
                     help="print the body reach would send and exit 0; changes nothing")
    dry.add_argument("--dry-run", nargs="?", const="client", metavar="client",
                     help="--dry-run, --dry-run=client or --dry-run client: --print-patch, as kubectl spells it")
    dry.add_argument("--pod-file", metavar="FILE",
                     help="the pod as kubectl get pod -o json|yaml prints it ('-': stdin); no cluster needed")
    dry.add_argument("--patch-type", choices=preview.PATCH_TYPES, default="strategic",
                     help="strategic (default; what a fan-out sends), json (what a one-pod run sends: "
                          "only onto a Running pod), or replace: the whole pod, as PUT with kubectl < 1.32")
    dry.add_argument("--name", help="container name to print (default: reach-<random>); fixed for golden files")
    p.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return p


def is_fan_out(args: argparse.Namespace) -> bool:
    workload = bool(args.pod) and bool(sources.parse_ref(args.pod).workload)
    return bool(args.selector or args.filename or args.all_namespaces or workload or args.junit or args.tap)


def pod_name(text: str) -> str:
    """POD as kubectl takes it: NAME, or pod/NAME (which also reaches a pod named lint)."""
    kind, slash, name = text.partition("/")
    if slash and kind in ("pod", "pods", "po"):
        return name
    if slash:
        raise UsageError("POD %r: give a pod name, or pod/NAME" % text)
    return text


def pod_mode(args: argparse.Namespace) -> Any:
    """--copy-to or node/NAME: a PodMode, checked against the flags that go with it; None otherwise."""
    node = node_name(args.pod or "")
    is_node = node is not None
    if args.copy_to is not None and not args.copy_to:
        raise UsageError("--copy-to needs a name for the copy, e.g. --copy-to web-reach")
    given = [flag for flag, on in (("--isolate", args.isolate), ("--same-node", args.same_node),
                                   ("--share-processes", args.share_processes)) if on]
    if given and not args.copy_to:
        raise UsageError("%s goes with --copy-to NAME" % given[0])
    if args.keep and not (args.copy_to or is_node):
        raise UsageError("--keep goes with --copy-to NAME or node/NAME: an ephemeral container always stays")
    if args.keep_alive and not args.reuse:
        raise UsageError("--keep-alive goes with --reuse")
    if not (args.copy_to or is_node):
        return None
    if args.copy_to and args.target:
        raise UsageError("--target shares one container's processes with the probe in the pod; in a copy, "
                         "--share-processes shares all of them")
    if args.copy_to and not is_node and args.copy_to == pod_name(args.pod or ""):
        raise UsageError("--copy-to %s names the pod itself: give the copy a name of its own" % args.copy_to)
    if is_node and not node:
        raise UsageError("%r names no node: give node/NAME (kubectl get nodes)" % args.pod)
    if is_node and args.copy_to:
        raise UsageError("--copy-to copies a pod; node/%s probes from the node's host network: give one" % node)
    if args.copy_to and not container.is_valid_name(args.copy_to) and not _is_subdomain(args.copy_to):
        raise UsageError("--copy-to %r is not a valid pod name (lower case letters, digits, '-' and '.')"
                         % args.copy_to)
    for flag, on in (("--reuse", args.reuse), ("--target", args.target),
                     ("--bypass-mesh", args.bypass_mesh and is_node), ("--explain", args.explain and is_node),
                     ("-l", args.selector), ("-A", args.all_namespaces), ("-f", args.filename), ("--junit", args.junit),
                     ("--tap", args.tap), ("--one", args.one), ("--parallel", args.parallel),
                     ("--patch-type", args.patch_type != "strategic")):
        if on:
            raise UsageError("%s does not go with %s" % (flag, "node/NAME" if is_node else "--copy-to"))
    from .podrun import PodMode
    return PodMode(copy_to=args.copy_to or "", node=node or "", isolate=args.isolate,
                   same_node=args.same_node, share_processes=args.share_processes, keep=args.keep)


def node_name(text: str) -> Optional[str]:
    """NAME of node/NAME (also nodes/, no/); None for anything else (a pod named node is a pod)."""
    kind, slash, name = text.partition("/")
    return name if slash and kind in ("node", "nodes", "no") else None


def _is_subdomain(name: str) -> bool:
    return len(name) <= 253 and all(container.is_valid_name(part) for part in name.split("."))


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


def request_targets(args: argparse.Namespace) -> List[Target]:
    """--to, then --dns: every target once."""
    targets = parse_targets(args.to)
    for value in getattr(args, "dns", None) or []:
        for name in value.split(","):
            target = parse_dns(name)
            if target not in targets:
                targets.append(target)
    return targets


def make_request(args: argparse.Namespace, env: dict, need_pod: bool = True) -> Request:
    """Validate everything before anything touches the cluster."""
    if not args.pod and need_pod:
        raise UsageError("missing POD: name the running pod to probe from")
    if not args.to and not getattr(args, "dns", None):
        raise UsageError("missing --to: name at least one target, e.g. --to db:5432 (or a name to resolve: --dns db)")
    if not args.image or args.image != args.image.strip():
        raise UsageError("--image %r: give an image reference without surrounding spaces, e.g. busybox:1.36"
                         % args.image)
    suffix = env.get("REACH_NAME_SUFFIX") or None
    if suffix and not container.is_valid_name(container.NAME_PREFIX + suffix):
        raise UsageError("REACH_NAME_SUFFIX %r does not make a valid container name" % suffix)
    keep_alive = parse_duration(args.keep_alive, "--keep-alive", 86400) if args.keep_alive else 600.0
    if keep_alive < 1:
        raise UsageError("--keep-alive %r: at least 1s (the agent looks at the clock in whole seconds)"
                         % args.keep_alive)
    pod = "" if node_name(args.pod or "") is not None else pod_name(args.pod or "")
    return Request(pod=pod, namespace=args.namespace, targets=request_targets(args), image=args.image,
                   pull_policy=args.image_pull_policy, timeout=parse_duration(args.timeout, "--timeout"),
                   start_timeout=parse_duration(args.start_timeout, "--start-timeout"),
                   target_container=args.target, name_suffix=suffix, bypass_mesh=args.bypass_mesh,
                   reuse=args.reuse, keep_alive=keep_alive,
                   insecure=getattr(args, "insecure", False))


def main(argv: Optional[List[str]] = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
         env: Optional[dict] = None) -> int:
    try:
        return _main(argv, out, err, env)
    finally:
        if "%s.interrupts" % __package__ in sys.modules:   # only a run that set up its handlers
            from . import interrupts
            interrupts.settle()


def _main(argv: Optional[List[str]], out: TextIO, err: TextIO, env: Optional[dict]) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    prog = prog_name(sys.argv[0])
    if argv[:1] == ["__complete"] or os.path.basename(sys.argv[0]).startswith("kubectl_complete-reach"):
        from . import completion, lintcli  # first: its words may be "lint"
        words = argv[1:] if argv[:1] == ["__complete"] else argv
        return completion.main(words, build_parser("kubectl reach"), lintcli.build_parser("kubectl reach"), out, env)
    if argv[:1] == ["lint"]:
        from . import lintcli  # not part of a probe run's start-up
        return lintcli.main(argv[1:], prog, out, err)
    if argv[:1] == ["history"]:
        return _history(argv[1:], prog, out, err, env)
    predict = argv[:1] == ["explain"]
    argv = argv[1:] if predict else argv
    argv = _dry_run_words(argv)
    args = build_parser(prog + " explain" if predict else prog, predict).parse_args(argv)
    try:
        ui = TerminalUi(out, err, args.output, args.quiet)
        if args.demo:
            from . import demo  # only here: it is no part of a real run's start-up
            ui.progress(demo.prepare(args, env, explain=predict))
            ui.demo = True
        if args.dry_run is not None or args.print_patch:
            from . import patchcli
            return patchcli.run(args, env, out, err)
        if predict:
            from . import explaincli
            return explaincli.predict(args, env, ui, out)
        mode = pod_mode(args)
        if not mode and is_fan_out(args):
            from . import fanoutcli  # here: a one-pod run does not pay for the fan-out's modules
            if args.reuse:
                raise UsageError("--reuse goes with one pod: a fan-out adds one container per pod")
            _terminate_like_ctrl_c()
            return fanoutcli.run(args, env, ui, out, err)
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
        if mode:
            from .podrun import PodRun
            result = PodRun(request, mode, kube, ui).execute()
        else:
            result = Run(request, kube, ui).execute()
        from . import explaincli
        explanations = explaincli.after_run(args, kube, result, ui)
        try:
            ui.finish(result, explanations)
        except BrokenPipeError:
            sys.stdout = open(os.devnull, "w")  # the reader left; the exit code still tells
        if args.expect == "closed":
            from . import fleet
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


def _history(argv: List[str], prog: str, out: TextIO, err: TextIO, env: dict) -> int:
    """`reach history POD`: the reach containers the pod has gathered, newest first."""
    from . import history
    p = Parser(prog=prog + " history", description="The reach containers a pod has gathered (ephemeral "
               "containers are never removed), newest first: image, state, exit code, what each probed.")
    p.add_argument("pod", metavar="POD")
    for flag in ("-n", "--namespace"), ("--context",), ("--kubeconfig",):
        p.add_argument(*flag)
    p.add_argument("-o", "--output", default="text", choices=("text", "json", "yaml"))
    p.add_argument("--kubectl", default=env.get("KUBECTL") or "kubectl")
    args = p.parse_args(argv)
    args.verbose = False
    try:
        pod = Kubectl(args.kubectl, args.context, args.kubeconfig, False, err, env.get("REACH_RECORD")).get_pod(
            pod_name(args.pod), args.namespace)
    except ReachError as e:
        return _fail(e, args, prog, out, err)
    found = history.rows(pod)
    if args.output != "text":
        out.write(report.render({"pod": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
                                 "containers": found}, args.output))
    elif found:
        out.write("".join(line + "\n" for line in history.table(found)))
    else:
        out.write("pod %s/%s has no reach containers\n" % (pod["metadata"]["namespace"], pod["metadata"]["name"]))
    return int(Exit.OK)


def _dry_run_words(argv: List[str]) -> List[str]:
    """--dry-run takes a value only as its next word when that word is one of kubectl's values;
    bare, it means client and the next word stays (the pod)."""
    out: List[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--dry-run":
            value = argv[i + 1] if i + 1 < len(argv) and argv[i + 1] in ("client", "server", "none") else ""
            out.append("--dry-run=" + (value or "client"))
            i += 2 if value else 1
            continue
        out.append(argv[i])
        i += 1
    return out


def _predict_parser(prog: str) -> argparse.ArgumentParser:
    """`reach explain`: the run's flags that concern which pod and which targets, and nothing else."""
    p = Parser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
               usage="%(prog)s POD --to HOST:PORT [--to HOST:PORT ...] [-n NAMESPACE] [flags]",
               description="Predict, without touching the pod: read the Service, its endpoints and the "
                           "NetworkPolicies on the\npath from POD to each target and say what would stop it. "
                           "Nothing is added; nothing is probed.",
               epilog="exit codes: 0 nothing read blocks any target, 1 something does, 2 usage error, "
                      "3 Kubernetes error,\n4 what decides could not be read")
    p.add_argument("pod", nargs="?", metavar="POD", help="the pod the traffic would come from")
    p.add_argument("--to", action="append", default=[], metavar="HOST:PORT", help="target (repeatable, or comma-separated)")
    p.add_argument("--dns", action="append", default=[], metavar="NAME", help="a name the pod resolves (repeatable)")
    p.add_argument("-n", "--namespace", help="the pod's namespace (default: the context's namespace)")
    p.add_argument("--context", help="kubeconfig context to use")
    p.add_argument("--kubeconfig", help="path to the kubeconfig file")
    p.add_argument("-o", "--output", default="text", choices=("text", "json", "yaml"), help="default: text")
    p.add_argument("-v", "--verbose", action="store_true", help="show each kubectl command")
    p.add_argument("-q", "--quiet", action="store_true", help="nothing on stderr but errors")
    p.add_argument("--kubectl", default=os.environ.get("KUBECTL") or "kubectl", help="kubectl binary")
    p.add_argument("--demo", action="store_true", help="replay real recorded reads (in a checkout); no cluster")
    # what make_request reads, at its run defaults: explain probes nothing
    p.set_defaults(image=container.DEFAULT_IMAGE, image_pull_policy=container.DEFAULT_PULL_POLICY, timeout="3s",
                   start_timeout="60s", target=None, explain=False, selector=None, all_namespaces=False, one=False,
                   parallel=None, filename=None, expect="open", dns_counts_as_closed=False, junit=None, tap=False,
                   print_patch=False, dry_run=None, pod_file=None, patch_type="strategic", name=None,
                   bypass_mesh=False, reuse=False, keep_alive=None, insecure=False)
    return p


def _terminate_like_ctrl_c() -> None:
    from . import interrupts
    interrupts.install()


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
