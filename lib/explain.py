"""Why a target is not reachable: the Service, its endpoints and the NetworkPolicies on the path.

Pure: the objects reach could read (Cluster) and a target in, an Explanation out: sentences for
people, a document for machines, and the causes found. Nothing here runs kubectl.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import netpol, pods
from .targets import Target

Obj = Dict[str, Any]


class Cluster(NamedTuple):
    """What reach read, and what it was not allowed to read."""
    pods: Sequence[Obj] = ()
    services: Sequence[Obj] = ()
    slices: Sequence[Obj] = ()
    policies: Sequence[Obj] = ()
    namespaces: Optional[Dict[str, Dict[str, str]]] = None   # None: not read, or not readable
    forbidden: Tuple[Tuple[str, str], ...] = ()               # (namespace, kind); "" is the cluster scope

    def denied(self, kind: str, namespace: str) -> bool:
        return (namespace, kind) in self.forbidden

    def seen(self, namespace: str) -> bool:
        """Does this namespace exist, as far as the reads tell?"""
        if self.namespaces is not None:
            return namespace in self.namespaces
        return any(_ns(o) == namespace for o in list(self.pods) + list(self.services) + list(self.slices) +
                   list(self.policies))


class Explanation(NamedTuple):
    lines: List[str]
    causes: List[str]        # what would stop the connection, most likely first
    document: Dict[str, Any]
    unknown: Tuple[str, ...] = ()   # kinds that could decide it but could not be read


class Destination(NamedTuple):
    kind: str                 # service | pod | ip | name
    namespace: str = ""
    name: str = ""            # Service or pod name; the host for ip/name
    pod: str = ""             # HOSTNAME.SUBDOMAIN...: only that pod of the Service


def normal_host(host: str) -> str:
    """Names compare without case (DNS does), addresses in their canonical spelling."""
    host = host.strip("[]").rstrip(".").lower()
    return str(ipaddress.ip_address(host)) if is_ip(host) else host


def destination(host: str, source_ns: str, cluster: Cluster) -> Destination:
    """What the host names: a Service (svc, svc.ns, svc.ns.svc[.cluster.local], its ClusterIP), a
    pod (its IP, HOSTNAME.SUBDOMAIN.ns.svc..., or A-B-C-D.ns.pod...), an address, or a name
    outside the cluster."""
    host = normal_host(host)
    if is_ip(host):
        for svc in cluster.services:
            spec = svc.get("spec") or {}
            if host in [normal_host(ip) for ip in spec.get("clusterIPs") or [spec.get("clusterIP") or ""]
                        if is_ip(normal_host(ip))]:
                return Destination("service", _ns(svc), _name(svc))
        for pod in cluster.pods:
            status = pod.get("status") or {}
            ips = [a.get("ip") for a in status.get("podIPs") or []] + [status.get("podIP")]
            if host in [normal_host(ip) for ip in ips if ip and is_ip(ip)]:
                return Destination("pod", _ns(pod), _name(pod))
        return Destination("ip", "", host)
    parts = host.split(".")
    if len(parts) >= 4 and parts[2] == "pod" and is_ip(parts[0].replace("-", ".")):
        return destination(parts[0].replace("-", "."), source_ns, cluster)
    if len(parts) >= 4 and parts[3] == "svc":   # a pod's own name under a headless Service
        return Destination("service", parts[2], parts[1], pod=parts[0])
    if len(parts) == 1 or (len(parts) >= 3 and parts[2] == "svc"):
        return Destination("service", parts[1] if len(parts) > 1 else source_ns, parts[0])
    if len(parts) == 2 and (_find(cluster.services, parts[1], parts[0]) or cluster.seen(parts[1])):
        return Destination("service", parts[1], parts[0])  # svc.ns; otherwise a name such as example.com
    return Destination("name", "", host)


def namespaces_to_read(host: str, source_ns: str) -> List[str]:
    """The namespaces whose objects explain this host (before any read): the source's, and the
    one a Service name points into."""
    out = [source_ns]
    host = normal_host(host)
    parts = host.split(".")
    if is_ip(host) or not host:
        return out
    if len(parts) >= 4 and parts[3] == "svc":
        ns = parts[2]
    elif len(parts) >= 4 and parts[2] == "pod":
        ns = parts[1]
    elif len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        ns = parts[1]
    else:
        return out
    return out + ([ns] if ns not in out else [])


def explain(source: Obj, target: Target, cluster: Cluster, verdict: Optional[str] = None) -> Explanation:
    src_ns = _ns(source)
    dest = destination(target.host, src_ns, cluster)
    why = _Why([], [], [], {"target": {"kind": dest.kind, "namespace": dest.namespace or None, "name": dest.name}})
    kinds = sorted({k for ns, k in cluster.forbidden if ns in ("", src_ns, dest.namespace)})
    if kinds:
        why.lines.append("not allowed to read %s%s" % (", ".join(k for k in kinds if k != "namespaces"),
                                                       ": what follows leaves them out" if kinds != ["namespaces"]
                                                       else ""))
        why.doc["unreadable"] = ["%s/%s" % (ns or "*", k) for ns, k in cluster.forbidden]
    if "namespaces" in kinds:
        why.lines[-1] = ("not allowed to read namespaces: namespaceSelectors that ask for more than a namespace's "
                         "kubernetes.io/metadata.name label cannot be judged") if kinds == ["namespaces"] else \
            why.lines[-1] + "; nor namespaces"
    backends: List[Backend] = []
    external: Optional[str] = None               # the address, when the destination is outside ("" a name)
    if target.scheme == "dns":                   # --dns: a lookup, no connection: only the name and DNS matter
        _name_only(dest, target, cluster, why)
        _dns(source, True, cluster, why, verdict)
        _source(source, why, verdict)
        why.causes.sort(key=lambda c: "DNS" not in c and "no Service" not in c)
        why.doc["causes"] = why.causes
        return Explanation(why.lines, why.causes, why.doc, tuple(dict.fromkeys(why.unknown)))
    if dest.kind == "service":
        backends, external = _service(dest, target, cluster, why)
    elif dest.kind == "pod":
        pod = _find(cluster.pods, dest.namespace, dest.name)
        ready = _ready(pod)
        why.lines.append("%s is pod %s/%s (%s)" % (target.host, dest.namespace, dest.name,
                                                    "Ready" if ready else "not Ready"))
        if not ready:
            why.causes.append("pod %s/%s is not Ready" % (dest.namespace, dest.name))
        why.doc["pod"] = {"namespace": dest.namespace, "name": dest.name, "ready": ready}
        backends = [Backend(pod, dest.name, (pod.get("status") or {}).get("podIP"), target.port)] if pod else []
    elif dest.kind == "ip":
        if cluster.denied("services", "") or cluster.denied("pods", ""):
            why.lines.append("%s: cannot tell whether it is a Service's or a pod's address (not allowed to list "
                             "services and pods in all namespaces); taken as outside the cluster" % target.host)
            why.unknown.append("services")
        else:
            why.lines.append("%s is neither a Service's ClusterIP nor a pod's IP: outside the cluster" % target.host)
        external = target.host
    else:
        why.lines.append("%s is not a Service name: a name outside the cluster, resolved by DNS" % target.host)
        external = ""
    _policies(source, target, backends, external, cluster, why)
    _dns(source, not is_ip(normal_host(target.host)), cluster, why, verdict)
    _source(source, why, verdict)
    if verdict == "dns":  # what explains a failed lookup comes first
        why.causes.sort(key=lambda c: "DNS" not in c and "no Service" not in c)
    why.doc["causes"] = why.causes
    return Explanation(why.lines, why.causes, why.doc, tuple(dict.fromkeys(why.unknown)))


class _Why(NamedTuple):
    lines: List[str]
    causes: List[str]
    unknown: List[str]
    doc: Dict[str, Any]


class Backend(NamedTuple):
    """Where the traffic lands, and the port on it: a pod (None when it could not be read, or
    when the endpoint is an address no pod backs)."""
    pod: Optional[Obj]
    name: str
    address: Optional[str]
    port: int
    of_pod: bool = True


# --- the Service and its endpoints ---------------------------------------------------------------

def _service(dest: Destination, target: Target, cluster: Cluster, why: _Why) -> Tuple[List[Backend], Optional[str]]:
    where = "%s/%s" % (dest.namespace, dest.name)
    svc = _read_service(dest, cluster, why)
    if svc is None:
        return [], None
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    why.doc["service"] = {"namespace": dest.namespace, "name": dest.name, "type": kind,
                          "clusterIP": spec.get("clusterIP")}
    if kind == "ExternalName":
        why.lines.append("Service %s is an ExternalName: DNS answers with a CNAME to %s; there are no endpoints, "
                         "and ports are whatever %s listens on" % (where, spec.get("externalName"),
                                                                  spec.get("externalName")))
        return [], ""
    headless = spec.get("clusterIP") == "None"
    port = _service_port(spec, target.port, headless, target.protocol)
    ports_text = ", ".join(_port_text(p) for p in spec.get("ports") or []) or "none"
    if port is None:
        port_name = "%d" % target.port if target.protocol == "TCP" else "%d/%s" % (target.port, target.protocol)
        why.lines.append("Service %s has no port %s (its ports: %s)" % (where, port_name, ports_text))
        why.causes.append("Service %s has no port %s" % (where, port_name))
        why.doc["service"]["port"] = None
        return [], None
    target_port = port.get("targetPort", port.get("port"))
    head = "Service %s (%s): " % (where, "headless: the name resolves to the pods' IPs" if headless
                                    else "%s %s" % (kind, spec.get("clusterIP")))
    if port.get("unlisted"):
        why.lines.append(head + "port %d is not one of its ports (%s), but a headless name reaches every port of "
                                "the pods" % (target.port, ports_text))
    else:
        why.lines.append(head + "port %s -> targetPort %s" % (_port_text(port), target_port))
    why.doc["service"].update(port=port.get("port"), targetPort=target_port, headless=headless)
    if not spec.get("selector"):
        why.lines.append("Service %s has no selector: its endpoints are kept by hand (or by another controller)"
                         % where)
    elif not cluster.denied("pods", dest.namespace) and not [
            p for p in cluster.pods if _ns(p) == dest.namespace and
            netpol.matches({"matchLabels": spec["selector"]}, _labels(p))]:
        why.lines.append("its selector %s matches no pod in namespace %s" % (_selector_text(spec["selector"]),
                                                                              dest.namespace))
        why.causes.append("the selector of Service %s matches no pod" % where)
    return _endpoints(dest, port, cluster, why), None


def _read_service(dest: Destination, cluster: Cluster, why: _Why) -> Optional[Dict[str, Any]]:
    """The Service `dest` names; None, with why, when there is none or it cannot be read."""
    where = "%s/%s" % (dest.namespace, dest.name)
    svc = _find(cluster.services, dest.namespace, dest.name)
    if svc is None:
        if cluster.denied("services", dest.namespace):
            why.lines.append("Service %s: cannot tell (services are not readable there)" % where)
            why.unknown.append("services")
            return None
        why.lines.append("no Service %s: the name does not resolve in the cluster" % where)
        why.causes.append("no Service %s" % where)
        why.doc["service"] = None
    return svc


def _name_only(dest: Destination, target: Target, cluster: Cluster, why: _Why) -> None:
    """What a --dns name is in the cluster: a Service's name (and what its records are), a pod's, or
    a name outside, which the cluster DNS forwards upstream."""
    if dest.kind == "pod":
        why.lines.append("%s is the name of pod %s/%s" % (target.host, dest.namespace, dest.name))
        return
    if dest.kind != "service":
        why.lines.append("%s is not a Service name: the cluster DNS forwards it to its upstream resolvers"
                         % target.host)
        return
    where = "%s/%s" % (dest.namespace, dest.name)
    svc = _read_service(dest, cluster, why)
    if svc is None:
        return
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    why.doc["service"] = {"namespace": dest.namespace, "name": dest.name, "type": kind,
                          "clusterIP": spec.get("clusterIP")}
    if kind == "ExternalName":
        why.lines.append("Service %s is an ExternalName: the name is a CNAME to %s" % (where, spec.get("externalName")))
    elif spec.get("clusterIP") == "None":
        why.lines.append("Service %s is headless: the name resolves to its ready pods' IPs (none when no pod is "
                         "ready)" % where)
    else:
        why.lines.append("Service %s (%s %s): the name resolves to its ClusterIP" % (where, kind, spec.get("clusterIP")))


def _service_port(spec: Obj, port: int, headless: bool, protocol: str = "TCP") -> Optional[Obj]:
    for p in spec.get("ports") or []:
        if p.get("port") == port and (p.get("protocol") or "TCP") == protocol:
            return p
    if headless:  # the name is the pods' IPs: every port of theirs, listed or not
        return {"port": port, "targetPort": port, "protocol": protocol, "unlisted": True}
    return None


def _endpoints(dest: Destination, port: Obj, cluster: Cluster, why: _Why) -> List[Backend]:
    where = "%s/%s" % (dest.namespace, dest.name)
    if cluster.denied("endpointslices", dest.namespace):
        why.lines.append("endpoints of %s: cannot tell (endpointslices are not readable)" % where)
        why.unknown.append("endpointslices")
        return []
    ready: Dict[str, Backend] = {}
    others: Dict[str, str] = {}   # label -> why not ready
    for eps in cluster.slices:
        labels = (eps.get("metadata") or {}).get("labels") or {}
        if _ns(eps) != dest.namespace or labels.get("kubernetes.io/service-name") != dest.name:
            continue
        numbers = [p.get("port") for p in eps.get("ports") or []
                   if (p.get("name") or "") == (port.get("name") or "") and isinstance(p.get("port"), int)]
        if port.get("unlisted"):
            numbers = [port["port"]]
        if not numbers:
            continue
        for ep in eps.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            key = ref.get("name") or ",".join(ep.get("addresses") or [])   # one pod, whatever its IP families
            if dest.pod and ref.get("name") != dest.pod and (ep.get("hostname") or "") != dest.pod:
                continue
            conditions = ep.get("conditions") or {}
            if conditions.get("ready") is not False:   # unset means ready
                pod = _find(cluster.pods, ref.get("namespace", dest.namespace), ref.get("name", "")) \
                    if ref.get("kind", "Pod") == "Pod" and ref.get("name") else None
                address = (ep.get("addresses") or [None])[0]
                ready.setdefault(key, Backend(pod, ref.get("name") or address or "?", address, numbers[0],
                                              ref.get("kind", "") == "Pod"))
            else:
                others[key] = "terminating" if conditions.get("terminating") else "not ready"
    labels_ready = ["%s %s" % (b.name, b.address) if b.name != b.address else b.name for b in ready.values()]
    why.doc["endpoints"] = {"ready": labels_ready, "notReady": sorted(others)}
    if not ready:
        serving = [k for k, v in others.items() if v == "terminating"]
        why.lines.append("no ready endpoint serves port %s%s: the classic cause of refused (kube-proxy rejects) or "
                         "timeout%s" % (_port_text(port), " (%d not ready: %s)" % (len(others), "; ".join(
                             sorted(others))) if others else "",
                             "; kube-proxy may still use the terminating ones" if serving else ""))
        why.causes.append("Service %s has no ready endpoint for port %s" % (where, port.get("port")))
    else:
        why.lines.append("%d ready endpoint%s: %s%s" % (len(ready), "" if len(ready) == 1 else "s",
                                                        "; ".join(labels_ready),
                                                        " (and %d not ready)" % len(others) if others else ""))
    return list(ready.values())


# --- NetworkPolicies -------------------------------------------------------------------------------

def _policies(source: Obj, target: Target, backends: List[Backend], external: Optional[str], cluster: Cluster,
              why: _Why) -> None:
    src = endpoint(source)
    if cluster.denied("networkpolicies", src.namespace or ""):
        why.lines.append("NetworkPolicies: cannot tell (networkpolicies are not readable)")
        why.unknown.append("networkpolicies")
        return
    namespaces = cluster.namespaces or {}
    results: List[Tuple[netpol.Endpoint, int, netpol.Decision]] = []
    if external is not None:
        dst = netpol.Endpoint(None, {}, external or None, name=external or target.host)
        results.append((dst, target.port, netpol.evaluate(src, dst, target.port, target.protocol, cluster.policies,
                                                          namespaces)))
    for b in backends:
        if b.pod is None and b.of_pod:
            why.lines.append("policies towards %s: cannot tell (its pod could not be read)" % b.name)
            why.unknown.append("pods")
            continue
        dst = endpoint(b.pod) if b.pod is not None else netpol.Endpoint(None, {}, b.address, name=b.name)
        results.append((dst, b.port, netpol.evaluate(src, dst, b.port, target.protocol, cluster.policies,
                                                     namespaces)))
    why.doc["networkPolicies"] = [_decision_doc(dst, port, d) for dst, port, d in results]
    for dst, port, d in results:
        why.lines.extend(_decision_lines(src, dst, port, d, external == "" and dst.ip is None))
        for side, text in ((d.egress, "egress of %s/%s" % (src.namespace, src.name)),
                           (d.ingress, "ingress of %s/%s" % (dst.namespace, dst.name))):
            if side.allowed:
                continue
            undecided = _undecided(side, dst if side is d.egress else src, port, cluster)
            if undecided:
                why.lines.append("  (%s)" % undecided)
                why.unknown.append("address" if "address" in undecided else "namespaces")
                continue
            peer = "%s:%d" % (dst.name, port) if side is d.egress else "%s/%s on %d" % (src.namespace, src.name, port)
            why.causes.append("NetworkPolicy %s: %s select%s it and no rule allows %s"
                              % (text, ", ".join(side.policies), "s" if len(side.policies) == 1 else "", peer))


def _undecided(side: netpol.Side, peer: netpol.Endpoint, port: int, cluster: Cluster) -> str:
    """Why a denial is not certain: the peer's address is unknown and an ipBlock might hold it, or
    the namespaces were not readable and a namespaceSelector asks for more than the name label."""
    peers = [p for pol in cluster.policies if "%s/%s" % (_ns(pol), _name(pol)) in side.policies
             for rule in ((pol.get("spec") or {}).get("egress") or []) + ((pol.get("spec") or {}).get("ingress") or [])
             for p in (rule.get("to") or []) + (rule.get("from") or [])]
    if peer.ip is None and any("ipBlock" in p for p in peers):
        return "an ipBlock rule may allow it, depending on the address %s resolves to, which reach does not know" \
            % peer.name
    if cluster.namespaces is None and any(
            set((p.get("namespaceSelector") or {}).get("matchLabels") or {}) - {netpol.NAME_LABEL} or
            (p.get("namespaceSelector") or {}).get("matchExpressions") for p in peers):
        return "a namespaceSelector may allow it: the namespaces' labels could not be read"
    return ""


def _dns(source: Obj, by_name: bool, cluster: Cluster, why: _Why, verdict: Optional[str]) -> None:
    src = endpoint(source)
    if cluster.denied("networkpolicies", src.namespace or ""):
        return
    dns = netpol.dns_egress(src, cluster.policies, cluster.namespaces or {})
    why.doc["dns"] = {"allowed": dns.allowed, "policies": list(dns.policies)}
    if dns.allowed:
        return
    needs_lookup = by_name or verdict == "dns"
    why.lines.append("DNS: egress of %s/%s is restricted (%s) and no rule allows UDP 53 to the cluster DNS: every "
                     "name lookup fails%s" % (src.namespace, src.name, ", ".join(dns.policies),
                                              ", which explains a dns verdict" if needs_lookup else
                                              " (this target is an address: it needs none)"))
    if needs_lookup:
        why.causes.append("no egress rule of %s/%s allows DNS (UDP 53)" % (src.namespace, src.name))


def endpoint(pod: Obj) -> netpol.Endpoint:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ports = tuple(p for c in spec.get("containers") or [] for p in c.get("ports") or [])
    return netpol.Endpoint(_ns(pod), _labels(pod), status.get("podIP"), ports, bool(spec.get("hostNetwork")),
                           _name(pod))


def _decision_lines(src: netpol.Endpoint, dst: netpol.Endpoint, port: int, d: netpol.Decision,
                    by_name: bool) -> List[str]:
    to = ("%s:%d" % (dst.name, port)) if not dst.in_cluster else "%s/%s:%d" % (dst.namespace, dst.name, port)
    out = ["egress %s/%s -> %s: %s" % (src.namespace, src.name, to, _side_text(d.egress))]
    if dst.in_cluster:
        out.append("ingress %s/%s -> %s: %s" % (src.namespace, src.name, to, _side_text(d.ingress)))
    elif by_name and d.egress.isolated:
        out.append("(egress to a name outside the cluster: only rules with no `to`, or an ipBlock holding the "
                   "address the name resolves to, allow it; reach does not resolve names)")
    return out


def _side_text(side: netpol.Side) -> str:
    if side.note:
        return "not enforced: " + side.note
    if not side.isolated:
        return "open (no NetworkPolicy selects the pod for this direction)"
    if side.allowed:
        return "allowed by %s" % ", ".join(side.allowing)
    return "DENIED: %s select%s the pod and no rule allows this" % (", ".join(side.policies),
                                                                     "s" if len(side.policies) == 1 else "")


def _decision_doc(dst: netpol.Endpoint, port: int, d: netpol.Decision) -> Dict[str, Any]:
    def side(s: netpol.Side) -> Dict[str, Any]:
        return {"isolated": s.isolated, "allowed": s.allowed, "policies": list(s.policies),
                "allowing": list(s.allowing), "note": s.note}
    return {"destination": {"namespace": dst.namespace, "name": dst.name, "ip": dst.ip}, "port": port,
            "allowed": d.allowed, "egress": side(d.egress), "ingress": side(d.ingress)}


# --- the source pod -------------------------------------------------------------------------------

def _source(source: Obj, why: _Why, verdict: Optional[str]) -> None:
    lines, causes, doc = why.lines, why.causes, why.doc
    spec = source.get("spec") or {}
    host_network = bool(spec.get("hostNetwork"))
    dns_policy = spec.get("dnsPolicy", "ClusterFirst")
    sidecar = pods.sidecar_of(source)
    doc["source"] = {"namespace": _ns(source), "name": _name(source), "hostNetwork": host_network,
                     "dnsPolicy": dns_policy, "sidecar": sidecar}
    if host_network:
        lines.append("source: the pod uses the node's network (hostNetwork): it probes from the node's address")
    if dns_policy == "Default" or (host_network and dns_policy == "ClusterFirst"):
        lines.append("source: dnsPolicy %s%s: the node's resolver answers, so Service names do not resolve"
                     % (dns_policy, " with hostNetwork" if host_network else ""))
        if verdict == "dns":
            causes.append("the pod's DNS is the node's (dnsPolicy %s)" % dns_policy)
    if sidecar:
        lines.append("source: a service-mesh sidecar (%s) runs in the pod; the probe's traffic goes through it, and "
                     "mesh policies (not read here) may refuse or redirect it" % sidecar)


# --- small helpers ---------------------------------------------------------------------------------

def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _ns(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("namespace", "")


def _name(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _labels(obj: Obj) -> Dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _find(objs: Sequence[Obj], ns: str, name: str) -> Optional[Obj]:
    return next((o for o in objs if _ns(o) == ns and _name(o) == name), None)


def _ready(pod: Optional[Obj]) -> bool:  # a pod's Ready condition (not an endpoint's)
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _port_text(port: Obj) -> str:
    text = "%s/%s" % (port.get("port"), port.get("protocol") or "TCP")
    return text + (' "%s"' % port["name"] if port.get("name") else "")


def _selector_text(selector: Dict[str, str]) -> str:
    return ",".join("%s=%s" % kv for kv in sorted(selector.items()))
