"""--print-patch: the body a run would send, printed; no cluster needed with --pod-file."""
from __future__ import annotations

import argparse
from typing import TextIO

from . import agents, container, manifests, newpods, pods, preview
from .cli import make_request, pod_mode
from .errors import Exit, UsageError
from .kubectl import Kubectl
from .run import Request


def run(args: argparse.Namespace, env: dict, out: TextIO, err: TextIO) -> int:
    if args.dry_run not in (None, "client"):
        raise UsageError("--dry-run=%s is not supported: --dry-run=client (or --print-patch) prints the patch, "
                         "and `reach lint` checks it as the API server would" % args.dry_run)
    request = make_request(args, env, need_pod=False)
    mode = pod_mode(args)
    if mode and mode.node:
        return _node_pod(args, request, mode.node, out, err)
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
                          request.target_container, pods.ISTIO_PROXY_UID if request.bypass_mesh else None,
                          insecure=request.insecure)
    if mode:   # --copy-to: the copy reach would create
        if pod is None:
            raise UsageError("--copy-to copies the pod: give POD, or --pod-file")
        if not pod["metadata"].get("uid"):
            raise UsageError("--pod-file holds a pod without metadata.uid: the copy is owned by the pod through it",
                             "give the pod as kubectl get pod NAME -o json prints it")
        body = newpods.copy_of(pod, container.build(spec), mode.copy_to, mode.isolate, mode.same_node,
                               mode.share_processes)
    else:
        body = preview.body(spec, pod, args.patch_type)
        if request.reuse:   # what a --reuse run adds when the pod has no agent: the container as an agent
            value = body[-1]["value"] if isinstance(body, list) else body["spec"]["ephemeralContainers"]
            added = value[-1] if isinstance(value, list) else value
            added["command"] = agents.command(added["command"], request.keep_alive)
    out.write(preview.render(body, "yaml" if args.output == "yaml" else "json"))
    return int(Exit.OK)


def _node_pod(args: argparse.Namespace, request: Request, node: str, out: TextIO, err: TextIO) -> int:
    """node/NAME: the pod reach would create there; the node is read for its taints (read-only)."""
    if args.pod_file:
        raise UsageError("--pod-file holds a pod; node/NAME reads the node")
    kube = Kubectl(args.kubectl, args.context, args.kubeconfig, args.verbose, err)
    namespace = args.namespace or kube.current_namespace()
    name = preview.pick_name(None, args.name, request.name_suffix)
    spec = container.Spec(name, request.image, request.pull_policy, request.targets, request.timeout,
                          insecure=request.insecure)
    body = newpods.node_pod(kube.get_object("node", node), container.build(spec), name, namespace)
    out.write(preview.render(body, "yaml" if args.output == "yaml" else "json"))
    return int(Exit.OK)
