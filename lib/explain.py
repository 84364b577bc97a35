"""Why a target is not reachable: the Service, its endpoints and the NetworkPolicies on the path.

Pure: the objects reach could read (Cluster) and a target in, an Explanation out: sentences for
people, a document for machines, and the causes found. Nothing here runs kubectl.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import netpol
from .targets import Target

Obj = Dict[str, Any]
SIDECARS = ("istio-proxy", "linkerd-proxy", "envoy", "cilium-envoy", "kuma-sidecar", "consul-dataplane")


class Cluster(NamedTuple):
    """What reach read, and which kinds it was not allowed to read."""
    pods: Sequence[Obj] = ()
    services: Sequence[Obj] = ()
    slices: Sequence[Obj] = ()
    policies: Sequence[Obj] = ()
    namespaces: Optional[Dict[str, Dict[str, str]]] = None   # None: not readable
    forbidden: Tuple[str, ...] = ()


class Explanation(NamedTuple):
    lines: List[str]
    causes: List[str]        # what would stop the connection, most likely first
    document: Dict[str, Any]
    unknown: Tuple[str, ...] = ()   # kinds that could decide it but could not be read


class Destination(NamedTuple):
    kind: str                 # service | pod | ip | name
    namespace: str = ""
    name: str = ""            # Service or pod name; the host for ip/name


def destination(host: str, source_ns: str, cluster: Cluster) -> Destination:
    """What the host names: a Service (svc, svc.ns, svc.ns.svc[.cluster.local], its ClusterIP), a
    pod (its IP), an address, or a name outside the cluster."""
    if is_ip(host):
        for svc in cluster.services:
            if host in (svc.get("spec") or {}).get("clusterIPs", [(svc.get("spec") or {}).get("clusterIP")]):
                return Destination("service", _ns(svc), _name(svc))
        for pod in cluster.pods:
            if host in [a.get("ip") for a in (pod.get("status") or {}).get("podIPs") or []] + \
                    [(pod.get("status") or {}).get("podIP")]:
                return Destination("pod", _ns(pod), _name(pod))
        return Destination("ip", "", host)
    parts = host.rstrip(".").split(".")
    if len(parts) == 1 or (len(parts) >= 3 and parts[2] == "svc"):
        return Destination("service", parts[1] if len(parts) > 1 else source_ns, parts[0])
    if len(parts) == 2 and (parts[1] in (cluster.namespaces or {}) or _find(cluster.services, parts[1], parts[0])):
        return Destination("service", parts[1], parts[0])  # svc.ns; otherwise a name such as example.com
    return Destination("name", "", host)


def namespaces_to_read(host: str, source_ns: str) -> List[str]:
    """The namespaces whose objects explain this host (before any read): the source's, and the
    one a Service name points into."""
    out = [source_ns]
    parts = host.rstrip(".").split(".")
    if not is_ip(host) and (len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc")) and parts[1] not in out:
        out.append(parts[1])
    return out


def explain(source: Obj, target: Target, cluster: Cluster, verdict: Optional[str] = None) -> Explanation:
    src_ns = _ns(source)
    dest = destination(target.host, src_ns, cluster)
    lines: List[str] = []
    causes: List[str] = []
    doc: Dict[str, Any] = {"target": {"kind": dest.kind, "namespace": dest.namespace or None,
                                      "name": dest.name}}
    unreadable = [k for k in cluster.forbidden if k != "namespaces"]
    if unreadable:
        lines.append("not allowed to read %s: what follows leaves them out" % ", ".join(unreadable))
    if "namespaces" in cluster.forbidden:
        lines.append("not allowed to read namespaces: namespaceSelectors are judged by each namespace's "
                     "kubernetes.io/metadata.name label alone")
    if cluster.forbidden:
        doc["unreadable"] = list(cluster.forbidden)
    backends: List[Tuple[Obj, int]] = []       # (destination pod, port on it)
    external: Optional[str] = None               # the address, when the destination is outside
    if dest.kind == "service":
        backends, external = _service(dest, target, cluster, lines, causes, doc)
    elif dest.kind == "pod":
        pod = _find(cluster.pods, dest.namespace, dest.name)
        ready = _ready(pod)
        lines.append("%s is pod %s/%s (%s)" % (target.host, dest.namespace, dest.name,
                                                "Ready" if ready else "not Ready"))
        if not ready:
            causes.append("pod %s/%s is not Ready" % (dest.namespace, dest.name))
        doc["pod"] = {"namespace": dest.namespace, "name": dest.name, "ready": ready}
        backends = [(pod, target.port)] if pod else []
    elif dest.kind == "ip":
        lines.append("%s is neither a Service's ClusterIP nor a pod's IP that reach can see: outside the cluster"
                     % target.host)
        external = target.host
    else:
        lines.append("%s is not a Service name: a name outside the cluster, resolved by DNS" % target.host)
        external = ""
    _policies(source, target, backends, external, cluster, lines, causes, doc)
    _source(source, lines, causes, doc, verdict)
    if verdict == "dns":  # what explains a failed lookup comes first
        causes.sort(key=lambda c: "DNS" not in c and "no Service" not in c)
    deciding = {"services", "endpointslices", "networkpolicies"} if dest.kind == "service" else {"networkpolicies"}
    unknown = tuple(k for k in cluster.forbidden if k in deciding)
    doc["causes"] = causes
    return Explanation(lines, causes, doc, unknown)


# --- the Service and its endpoints ---------------------------------------------------------------

def _service(dest: Destination, target: Target, cluster: Cluster, lines: List[str], causes: List[str],
             doc: Dict[str, Any]) -> Tuple[List[Tuple[Obj, int]], Optional[str]]:
    where = "%s/%s" % (dest.namespace, dest.name)
    svc = _find(cluster.services, dest.namespace, dest.name)
    if svc is None:
        if "services" in cluster.forbidden:
            lines.append("Service %s: cannot tell (services are not readable)" % where)
            return [], None
        lines.append("no Service %s: the name does not resolve in the cluster" % where)
        causes.append("no Service %s" % where)
        doc["service"] = None
        return [], None
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    doc["service"] = {"namespace": dest.namespace, "name": dest.name, "type": kind,
                      "clusterIP": spec.get("clusterIP")}
    if kind == "ExternalName":
        lines.append("Service %s is an ExternalName: DNS answers with a CNAME to %s; there are no endpoints, and "
                     "ports are whatever %s listens on" % (where, spec.get("externalName"), spec.get("externalName")))
        return [], ""
    headless = spec.get("clusterIP") == "None"
    port = _service_port(spec, target.port, headless)
    ports_text = ", ".join(_port_text(p) for p in spec.get("ports") or []) or "none"
    if port is None:
        lines.append("Service %s has no port %d (its ports: %s)" % (where, target.port, ports_text))
        causes.append("Service %s has no port %d" % (where, target.port))
        doc["service"]["port"] = None
        return [], None
    target_port = port.get("targetPort", port.get("port"))
    head = "Service %s (%s): " % (where, "headless: the name resolves to the pods' IPs" if headless
                                    else "%s %s" % (kind, spec.get("clusterIP")))
    if port.get("unlisted"):
        lines.append(head + "port %d is not one of its ports (%s), but a headless name reaches every port of the "
                            "pods" % (target.port, ports_text))
    else:
        lines.append(head + "port %s -> targetPort %s" % (_port_text(port), target_port))
    doc["service"].update(port=port.get("port"), targetPort=target_port, headless=headless)
    if not spec.get("selector"):
        lines.append("Service %s has no selector: its endpoints are kept by hand (or by another controller)" % where)
    elif not [p for p in cluster.pods if _ns(p) == dest.namespace and
              netpol.matches({"matchLabels": spec["selector"]}, _labels(p))] and "pods" not in cluster.forbidden:
        lines.append("its selector %s matches no pod in namespace %s" % (_selector_text(spec["selector"]),
                                                                          dest.namespace))
        causes.append("the selector of Service %s matches no pod" % where)
    return _endpoints(dest, port, cluster, lines, causes, doc), None


def _service_port(spec: Obj, port: int, headless: bool) -> Optional[Obj]:
    for p in spec.get("ports") or []:
        if p.get("port") == port and (p.get("protocol") or "TCP") == "TCP":
            return p
    if headless:  # the name is the pods' IPs: every port of theirs, listed or not
        return {"port": port, "targetPort": port, "protocol": "TCP", "unlisted": True}
    return None


def _endpoints(dest: Destination, port: Obj, cluster: Cluster, lines: List[str], causes: List[str],
               doc: Dict[str, Any]) -> List[Tuple[Obj, int]]:
    where = "%s/%s" % (dest.namespace, dest.name)
    if "endpointslices" in cluster.forbidden:
        lines.append("endpoints of %s: cannot tell (endpointslices are not readable)" % where)
        return []
    ready, unready, backends = [], [], []
    for eps in cluster.slices:
        labels = (eps.get("metadata") or {}).get("labels") or {}
        if _ns(eps) != dest.namespace or labels.get("kubernetes.io/service-name") != dest.name:
            continue
        numbers = [p.get("port") for p in eps.get("ports") or [] if (p.get("name") or "") == (port.get("name") or "")]
        if port.get("unlisted"):
            numbers = [port["port"]]
        if not numbers:
            continue
        for ep in eps.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            label = "%s %s" % (ref.get("name", "?"), ",".join(ep.get("addresses") or []))
            if (ep.get("conditions") or {}).get("ready", True):
                ready.append(label)
                pod = _find(cluster.pods, ref.get("namespace", dest.namespace), ref.get("name", ""))
                if pod is not None:
                    backends.append((pod, numbers[0]))
            else:
                unready.append(label)
    doc["endpoints"] = {"ready": ready, "notReady": unready}
    if not ready:
        lines.append("no ready endpoint serves port %s%s: the classic cause of refused (kube-proxy rejects) or "
                     "timeout" % (_port_text(port), " (%d not ready: %s)" % (len(unready), "; ".join(unready))
                                  if unready else ""))
        causes.append("Service %s has no ready endpoint for port %s" % (where, port.get("port")))
    else:
        lines.append("%d ready endpoint%s: %s%s" % (len(ready), "" if len(ready) == 1 else "s", "; ".join(ready),
                                                    " (and %d not ready)" % len(unready) if unready else ""))
    return backends


# --- NetworkPolicies -------------------------------------------------------------------------------

def _policies(source: Obj, target: Target, backends: List[Tuple[Obj, int]], external: Optional[str],
              cluster: Cluster, lines: List[str], causes: List[str], doc: Dict[str, Any]) -> None:
    if "networkpolicies" in cluster.forbidden:
        lines.append("NetworkPolicies: cannot tell (networkpolicies are not readable)")
        return
    namespaces = cluster.namespaces or {}
    src = endpoint(source)
    results = []
    if external is not None:
        dst = netpol.Endpoint(None, {}, external or None, name=external or target.host)
        results.append((dst, target.port, netpol.evaluate(src, dst, target.port, "TCP", cluster.policies,
                                                          namespaces)))
    for pod, port in backends:
        dst = endpoint(pod)
        results.append((dst, port, netpol.evaluate(src, dst, port, "TCP", cluster.policies, namespaces)))
    doc["networkPolicies"] = [_decision_doc(dst, port, d) for dst, port, d in results]
    for dst, port, d in results:
        lines.extend(_decision_lines(src, dst, port, d, external is not None and not external))
        if not d.egress.allowed:
            causes.append("NetworkPolicy egress of %s/%s: %s selects it and no rule allows %s:%d"
                          % (src.namespace, src.name, ", ".join(d.egress.policies), dst.name, port))
        if not d.ingress.allowed:
            causes.append("NetworkPolicy ingress of %s/%s: %s selects it and no rule allows %s/%s on %d"
                          % (dst.namespace, dst.name, ", ".join(d.ingress.policies), src.namespace, src.name, port))
    dns = netpol.dns_egress(src, cluster.policies, namespaces)
    doc["dns"] = {"allowed": dns.allowed, "policies": list(dns.policies)}
    if not dns.allowed:
        lines.append("DNS: egress of %s/%s is restricted (%s) and no rule allows UDP 53 to the cluster DNS: "
                     "every name lookup fails, which explains a dns verdict"
                     % (src.namespace, src.name, ", ".join(dns.policies)))
        causes.append("no egress rule of %s/%s allows DNS (UDP 53)" % (src.namespace, src.name))


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

def _source(source: Obj, lines: List[str], causes: List[str], doc: Dict[str, Any], verdict: Optional[str]) -> None:
    spec = source.get("spec") or {}
    host_network = bool(spec.get("hostNetwork"))
    dns_policy = spec.get("dnsPolicy", "ClusterFirst")
    sidecar = sidecar_of(source)
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


def sidecar_of(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if c.get("name") in SIDECARS:
            return c["name"]
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    for key, name in (("sidecar.istio.io/status", "istio-proxy"), ("linkerd.io/proxy-version", "linkerd-proxy")):
        if key in annotations:
            return name
    return ""


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


def _ready(pod: Optional[Obj]) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _port_text(port: Obj) -> str:
    text = "%s/%s" % (port.get("port"), port.get("protocol") or "TCP")
    return text + (' "%s"' % port["name"] if port.get("name") else "")


def _selector_text(selector: Dict[str, str]) -> str:
    return ",".join("%s=%s" % kv for kv in sorted(selector.items()))
