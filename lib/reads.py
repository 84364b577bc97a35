"""The reads an explanation needs, in as few kubectl calls as possible.

One multi-kind `get` per namespace on the path (Services, EndpointSlices, NetworkPolicies and
pods at once); namespaces (for namespaceSelectors) only when a policy has one; cluster-wide
lookups by ClusterIP or pod IP only for an address the namespaces read do not explain. A kind
reach may not read is noted and left out; the rest is still used.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from . import explain
from .kubectl import Kubectl
from .targets import Target

KINDS = "services,endpointslices.discovery.k8s.io,networkpolicies.networking.k8s.io,pods"
_SHORT = {"endpointslices.discovery.k8s.io": "endpointslices", "networkpolicies.networking.k8s.io": "networkpolicies"}


def read(kube: Kubectl, source: Dict[str, Any], targets: Sequence[Target]) -> explain.Cluster:
    source_ns = (source.get("metadata") or {}).get("namespace", "")
    by_kind: Dict[str, List[Dict[str, Any]]] = {"Service": [], "EndpointSlice": [], "NetworkPolicy": [], "Pod": []}
    forbidden: List[Tuple[str, str]] = []   # (namespace, kind); "" is the cluster scope
    done: List[str] = []

    def deny(ns: str, kinds: Sequence[str]) -> None:
        forbidden.extend((ns, _SHORT.get(k, k)) for k in kinds if (ns, _SHORT.get(k, k)) not in forbidden)

    def namespace(ns: str) -> None:
        if ns in done:
            return
        done.append(ns)
        items, denied = kube.get_list([KINDS, "-n", ns])
        for item in items:
            by_kind.setdefault(item.get("kind", ""), []).append(item)
        deny(ns, denied)

    for t in targets:
        for ns in explain.namespaces_to_read(t.host, source_ns):
            namespace(ns)
    for t in targets:
        host = explain.normal_host(t.host)
        if not explain.is_ip(host) or explain.destination(host, source_ns, _cluster(by_kind, None, forbidden))\
                .kind != "ip":
            continue
        for args, kind in ((["services", "-A", "--field-selector", "spec.clusterIP=" + host], "Service"),
                           (["pods", "-A", "--field-selector", "status.podIP=" + host], "Pod")):
            found, denied = kube.get_list(args)
            deny("", denied)
            if found:
                namespace(found[0]["metadata"]["namespace"])
                if not [o for o in by_kind[kind] if o["metadata"]["name"] == found[0]["metadata"]["name"]
                        and o["metadata"]["namespace"] == found[0]["metadata"]["namespace"]]:
                    by_kind[kind].append(found[0])
                break
    namespaces = None
    if any(_has_namespace_selector(p) for p in by_kind["NetworkPolicy"]):
        items, denied = kube.get_list(["namespaces"])
        if denied:  # every namespace has its kubernetes.io/metadata.name label: netpol falls back on it
            deny("", ["namespaces"])
        else:
            namespaces = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in items}
    return _cluster(by_kind, namespaces, forbidden)


def _cluster(by_kind: Dict[str, List[Dict[str, Any]]], namespaces,
             forbidden: List[Tuple[str, str]]) -> explain.Cluster:
    return explain.Cluster(pods=by_kind["Pod"], services=by_kind["Service"], slices=by_kind["EndpointSlice"],
                           policies=by_kind["NetworkPolicy"], namespaces=namespaces, forbidden=tuple(forbidden))


def _has_namespace_selector(policy: Dict[str, Any]) -> bool:
    spec = policy.get("spec") or {}
    return any("namespaceSelector" in peer for direction, key in (("ingress", "from"), ("egress", "to"))
               for rule in spec.get(direction) or [] for peer in rule.get(key) or [])
