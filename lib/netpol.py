"""NetworkPolicy evaluation: may this source reach that destination on this port? Pure.

Kubernetes semantics (networking.k8s.io/v1):
- A pod is isolated in a direction when some policy selecting it has that policy type
  (policyTypes, or by default Ingress, plus Egress when the policy has egress rules). A pod
  no policy isolates is open in that direction.
- Policies are additive: an isolated pod allows what at least one rule of one of the
  policies selecting it allows. A connection needs egress from the source and ingress to the
  destination.
- A peer with podSelector only: pods of the policy's namespace; namespaceSelector only: every
  pod of the selected namespaces; both in one peer: pods matching both (AND); two peers: either
  (OR); ipBlock: the CIDR minus its `except` ranges. No peers (`to`/`from` absent or empty):
  every peer. No ports: every port.
- A port is a number (with endPort: a range) or a name, resolved against the destination
  pod's container ports; protocol defaults to TCP.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

Labels = Dict[str, str]
NAME_LABEL = "kubernetes.io/metadata.name"  # every namespace carries it (Kubernetes >= 1.21)


class Endpoint(NamedTuple):
    """One end of a connection: a pod (namespace set) or a host outside the cluster (namespace None)."""
    namespace: Optional[str]
    labels: Labels
    ip: Optional[str] = None
    ports: Tuple[Dict[str, Any], ...] = ()   # the pod's container ports, for named ports
    host_network: bool = False
    name: str = ""

    @property
    def in_cluster(self) -> bool:
        return self.namespace is not None


class Side(NamedTuple):
    """One direction of the connection."""
    isolated: bool                  # some policy selects the pod for this direction
    allowed: bool
    policies: Tuple[str, ...]       # the policies that isolate it (namespace/name)
    allowing: Tuple[str, ...]       # those with a rule that allows this connection
    note: str = ""                  # why the direction is not evaluated (hostNetwork, outside)


class Decision(NamedTuple):
    egress: Side
    ingress: Side

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed


def evaluate(src: Endpoint, dst: Endpoint, port: int, protocol: str, policies: Sequence[Dict[str, Any]],
             namespaces: Dict[str, Labels]) -> Decision:
    if src.in_cluster and (src.namespace, src.name) == (dst.namespace, dst.name) and src.name:
        itself = Side(False, True, (), (), "a pod can always reach itself: NetworkPolicies never block that")
        return Decision(itself, itself)
    return Decision(egress=_egress(src, dst, port, protocol, policies, namespaces),
                    ingress=_ingress(src, dst, port, protocol, policies, namespaces))


def _egress(src: Endpoint, dst: Endpoint, port: int, protocol: str, policies: Sequence[Dict[str, Any]],
            namespaces: Dict[str, Labels]) -> Side:
    if src.host_network:
        return Side(False, True, (), (), "the source pod uses the node's network (hostNetwork): NetworkPolicies "
                                         "do not apply to its traffic")
    selecting = [p for p in policies if "Egress" in policy_types(p) and selects(p, src)]
    allowing = [p for p in selecting
                if any(_rule_allows(rule, "to", p, dst, port, protocol, namespaces) for rule in _rules(p, "egress"))]
    return Side(bool(selecting), not selecting or bool(allowing), _names(selecting), _names(allowing))


def _ingress(src: Endpoint, dst: Endpoint, port: int, protocol: str, policies: Sequence[Dict[str, Any]],
             namespaces: Dict[str, Labels]) -> Side:
    if not dst.in_cluster:
        return Side(False, True, (), (), "the destination is outside the cluster: only egress applies")
    if dst.host_network:
        return Side(False, True, (), (), "the destination pod uses the node's network (hostNetwork): "
                                         "NetworkPolicies do not apply to it")
    if src.host_network:  # its packets come from the node's address: pod selectors never match them
        src = Endpoint(None, {}, src.ip, name=src.name)
    selecting = [p for p in policies if "Ingress" in policy_types(p) and selects(p, dst)]
    allowing = [p for p in selecting
                if any(_rule_allows(rule, "from", p, src, port, protocol, namespaces, dst)
                       for rule in _rules(p, "ingress"))]
    return Side(bool(selecting), not selecting or bool(allowing), _names(selecting), _names(allowing))


def policy_types(policy: Dict[str, Any]) -> List[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress"] + (["Egress"] if spec.get("egress") else [])  # an empty egress list adds nothing


def selects(policy: Dict[str, Any], pod: Endpoint) -> bool:
    """Does the policy apply to this pod (same namespace, podSelector matches)?"""
    meta = policy.get("metadata") or {}
    return pod.in_cluster and meta.get("namespace") == pod.namespace and \
        matches((policy.get("spec") or {}).get("podSelector") or {}, pod.labels)


def matches(selector: Dict[str, Any], labels: Labels) -> bool:
    """A metav1.LabelSelector: matchLabels and matchExpressions, all of them; {} matches all."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _rules(policy: Dict[str, Any], direction: str) -> List[Dict[str, Any]]:
    return [r for r in (policy.get("spec") or {}).get(direction) or [] if isinstance(r, dict)]


def _rule_allows(rule: Dict[str, Any], peers_key: str, policy: Dict[str, Any], peer: Endpoint, port: int,
                 protocol: str, namespaces: Dict[str, Labels], dst: Optional[Endpoint] = None) -> bool:
    """One egress rule (peer = destination) or ingress rule (peer = source, dst = the policy's pod)."""
    target = dst if dst is not None else peer  # whose container ports name the port
    if not _ports_allow(rule.get("ports") or [], port, protocol, target):
        return False
    peers = rule.get(peers_key) or []
    return not peers or any(_peer_matches(p, policy, peer, namespaces) for p in peers)


def _ports_allow(ports: List[Dict[str, Any]], port: int, protocol: str, target: Endpoint) -> bool:
    if not ports:
        return True
    for entry in ports:
        if (entry.get("protocol") or "TCP") != protocol:
            continue
        value = entry.get("port")
        if value is None:
            return True
        if isinstance(value, str) and not value.isdigit():
            if resolve_named_port(value, protocol, target) == port:
                return True
            continue
        start = int(value)
        end = int(entry.get("endPort") or start)
        if start <= port <= end:
            return True
    return False


def resolve_named_port(name: str, protocol: str, pod: Endpoint) -> Optional[int]:
    for p in pod.ports:
        if p.get("name") == name and (p.get("protocol") or "TCP") == protocol:
            return p.get("containerPort")
    return None


def _peer_matches(peer: Dict[str, Any], policy: Dict[str, Any], other: Endpoint,
                  namespaces: Dict[str, Labels]) -> bool:
    if "ipBlock" in peer:
        return _in_block(peer["ipBlock"] or {}, other.ip)
    pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
    if not other.in_cluster or (pod_sel is None and ns_sel is None):
        return False  # pod and namespace selectors only ever match pods
    if ns_sel is None:
        same_ns = other.namespace == (policy.get("metadata") or {}).get("namespace")
        return same_ns and matches(pod_sel or {}, other.labels)
    ns_labels = namespaces.get(other.namespace or "") or {NAME_LABEL: other.namespace or ""}
    return matches(ns_sel, ns_labels) and matches(pod_sel or {}, other.labels)


def _in_block(block: Dict[str, Any], ip: Optional[str]) -> bool:
    if not ip:  # an address not known (the DNS pods'): only a block of every address surely holds it
        return str(block.get("cidr", "")).endswith("/0") and not block.get("except")
    try:
        address = ipaddress.ip_address(ip)
        if address not in ipaddress.ip_network(block.get("cidr", ""), strict=False):
            return False
        return not any(address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])
    except ValueError:
        return False


def _names(policies: Sequence[Dict[str, Any]]) -> Tuple[str, ...]:
    return tuple("%s/%s" % ((p.get("metadata") or {}).get("namespace", ""), (p.get("metadata") or {}).get("name", ""))
                 for p in policies)


# The cluster DNS as NetworkPolicies see it: pods labelled k8s-app=kube-dns in kube-system
# (kube-dns and CoreDNS alike), serving port 53 over UDP and TCP.
DNS_POD = Endpoint("kube-system", {"k8s-app": "kube-dns"}, None,
                   ({"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}), name="kube-dns")


def dns_egress(src: Endpoint, policies: Sequence[Dict[str, Any]], namespaces: Dict[str, Labels]) -> Side:
    """May the source pod send DNS queries (UDP 53) to the cluster DNS?"""
    return _egress(src, DNS_POD, 53, "UDP", policies, namespaces)
