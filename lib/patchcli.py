"""--print-patch: the body a run would send, printed; no cluster needed with --pod-file."""
from __future__ import annotations

import argparse
from typing import TextIO

from . import container, manifests, pods, preview
from .cli import make_request
from .errors import Exit, UsageError
from .kubectl import Kubectl


def run(args: argparse.Namespace, env: dict, out: TextIO, err: TextIO) -> int:
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
                          request.target_container, pods.ISTIO_PROXY_UID if request.bypass_mesh else None)
    out.write(preview.render(preview.body(spec, pod, args.patch_type), "yaml" if args.output == "yaml" else "json"))
    return int(Exit.OK)
