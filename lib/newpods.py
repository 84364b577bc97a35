"""The pods reach creates when it does not add to a running pod: a copy of it (--copy-to) and a
pod on a node's host network (node/NAME). Pure: the source pod or node in, the body out.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

MANAGED_BY = {"app.kubernetes.io/managed-by": "kubectl-reach"}
COPY_OF = "kubectl-reach/copy-of"        # annotation: the pod a copy was made from
RUN = "kubectl-reach/run"                # annotation: the run that created the pod (only it deletes it)
NODE = "kubectl-reach/node"              # annotation: the node a node probe runs on
# A condition nobody sets: the copy never turns Ready, so no Service sends it traffic, whatever
# its labels select (only a Service with publishNotReadyAddresses lists it).
NEVER_READY = "kubectl-reach/never-ready"
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
# Metadata that describes the original, not a copy of it.
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "kubernetes.io/config.mirror",
                     "kubernetes.io/config.hash", "kubernetes.io/config.source", "kubernetes.io/config.seen")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def probe_container(ephemeral: Dict[str, Any]) -> Dict[str, Any]:
    """The probe as a regular container: an ephemeral container's spec minus what only those take."""
    regular = copy.deepcopy(ephemeral)
    regular.pop("targetContainerName", None)
    return regular


def copy_of(pod: Dict[str, Any], probe: Dict[str, Any], name: str, isolate: bool = False, same_node: bool = False,
            share_processes: bool = False, run: str = "") -> Dict[str, Any]:
    """A copy of `pod` named `name`, with the probe as one more container.

    It keeps the labels (NetworkPolicies select it as they select the original) unless
    `isolate`; it is owned by the original, so no ReplicaSet or other controller adopts it (an
    orphan whose labels match their selector would be adopted, and one pod too many deleted),
    and the garbage collector removes it with the original; it never turns Ready, so no
    Service sends it traffic (the original's own readiness gates go: a load balancer
    controller registers pods that carry its gate). Its app containers run without their
    probes and are never restarted, as in kubectl debug --copy-to.
    """
    meta = pod.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _DROP_ANNOTATIONS}
    annotations[COPY_OF] = meta.get("name", "")
    if run:
        annotations[RUN] = run
    labels = dict(MANAGED_BY) if isolate else dict(meta.get("labels") or {})
    spec = copy.deepcopy(pod.get("spec") or {})
    for key in ("ephemeralContainers", "priority", "hostname", "subdomain"):
        # ephemeral containers cannot be created with a pod; priority comes back from its class;
        # a hostname under a subdomain would give the copy the original's DNS name
        spec.pop(key, None)
    if not same_node:
        spec.pop("nodeName", None)
    for c in spec.get("containers") or []:
        for key in _PROBES:
            c.pop(key, None)
    spec["containers"] = (spec.get("containers") or []) + [probe_container(probe)]
    spec["restartPolicy"] = "Never"
    spec["readinessGates"] = [{"conditionType": NEVER_READY}]
    if share_processes:
        spec["shareProcessNamespace"] = True
    owner = {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name", ""), "uid": meta.get("uid", ""),
             "controller": True}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": meta.get("namespace", ""), "labels": labels,
                         "annotations": annotations, "ownerReferences": [owner]},
            "spec": spec}


def node_pod(node: Dict[str, Any], probe: Dict[str, Any], name: str, namespace: str, run: str = "") -> Dict[str, Any]:
    """A pod on `node`'s host network that runs the probe once.

    It tolerates every taint the node has (kubelet admission and the taint manager would refuse
    or evict it otherwise), needs no service account token, and keeps the node's DNS settings
    (dnsPolicy ClusterFirst on the host network falls back to the node's resolv.conf).
    """
    node_name = node["metadata"]["name"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY),
                         "annotations": dict({NODE: node_name}, **({RUN: run} if run else {}))},
            "spec": {"nodeName": node_name, "hostNetwork": True, "restartPolicy": "Never",
                     "tolerations": tolerations(node), "automountServiceAccountToken": False,
                     "enableServiceLinks": False, "terminationGracePeriodSeconds": 1,
                     "containers": [probe_container(probe)]}}


def tolerations(node: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One toleration per taint of the node, for its key and effect whatever its value."""
    out: List[Dict[str, Any]] = []
    for taint in (node.get("spec") or {}).get("taints") or []:
        toleration = {"key": taint.get("key", ""), "operator": "Exists", "effect": taint.get("effect", "")}
        if toleration not in out:
            out.append(toleration)
    return out


def made_by(pod: Dict[str, Any], run: str) -> bool:
    """Whether `pod` is the one run `run` created (a pod of that name may be anybody's)."""
    return bool(run) and ((pod.get("metadata") or {}).get("annotations") or {}).get(RUN) == run


def enforced_level(namespace: Dict[str, Any]) -> str:
    """The namespace's PodSecurity enforce level ("" when it sets none: the cluster default applies)."""
    return ((namespace.get("metadata") or {}).get("labels") or {}).get(PSA_ENFORCE, "")


def allows_host_network(level: str) -> Optional[bool]:
    """Whether PodSecurity `level` admits hostNetwork: True, False, or None (not set: the cluster's
    default decides, which reach cannot read)."""
    if not level:
        return None
    return level == "privileged"


def host_network_namespaces(namespaces: List[Dict[str, Any]], unset_too: bool = True) -> List[str]:
    """Namespaces where a host-network pod passes PodSecurity: privileged ones first, then those
    that set no level (unless the cluster's default level is what refused it)."""
    named = [(enforced_level(ns), ns["metadata"]["name"]) for ns in namespaces]
    return [n for level, n in named if level == "privileged"] + \
        ([n for level, n in named if not level] if unset_too else [])
