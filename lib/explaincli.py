"""The command line of explain: `reach explain` (a prediction) and --explain after a run."""
from __future__ import annotations

import argparse
from typing import TextIO

from . import report
from .cli import make_request
from .errors import Exit, ReachError, UsageError
from .kubectl import Kubectl
from .run import RunResult
from .terminal import TerminalUi


def after_run(args: argparse.Namespace, kube: Kubectl, result: RunResult, ui: TerminalUi) -> dict:
    """--explain: why each target that is not open is not; without it, a hint that it exists."""
    # A TLS failure is the server's certificate, not the path: the path's objects do not explain it.
    failed = [v for v in result.verdicts if not v.reachable and v.outcome != "tls"]
    if not failed or result.mode == "node":   # no pod's policies stand on a node's host network
        return {}
    if not args.explain:
        if not ui.demo:   # the demo's recording has no reads to explain with
            ui.progress("hint: --explain reads the Service, endpoints and NetworkPolicies on the path (read-only)")
        return {}
    from . import explain, reads  # here: the policy evaluation is no part of a plain run's start or exit
    try:
        cluster = reads.read(kube, result.source or {}, [v.target for v in failed])
        return {v.target: explain.explain(result.source or {}, v.target, cluster, v.outcome) for v in failed}
    except ReachError as e:  # the verdicts stand; only the why is missing
        ui.progress("explain: could not read the path: %s" % e.message)
    except Exception as e:  # a bug in the explanation must not cost the verdicts of a probe that ran
        ui.progress("explain: internal error: %s: %s; the verdicts stand" % (type(e).__name__, e))
    return {}


def predict(args: argparse.Namespace, env: dict, ui: TerminalUi, out: TextIO) -> int:
    """`reach explain`: the reading and the policy evaluation alone; nothing added to the pod."""
    if args.selector or args.filename:
        raise UsageError("explain takes one POD (and its --to targets)")
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
