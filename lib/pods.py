"""Checks on a pod before anything is added to it: each refusal says why and what to do."""
from __future__ import annotations

from typing import Any, Dict, Optional

from .errors import KubeError

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def check(pod: Dict[str, Any], target_container: Optional[str]) -> None:
    """Raise KubeError when an ephemeral container cannot (or should not) be added."""
    meta = pod.get("metadata", {})
    name, ns = meta.get("name", "?"), meta.get("namespace", "?")
    where = 'pod "%s" in namespace "%s"' % (name, ns)
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        raise KubeError("%s is a static (mirror) pod: the API refuses ephemeral containers there" % where,
                        "probe from another pod on the same node, e.g. a pod with hostNetwork",
                        reason="MirrorPod")
    if meta.get("deletionTimestamp"):
        raise KubeError("%s is terminating" % where,
                        "probe from another pod of the same workload", reason="Terminating")
    phase = (pod.get("status") or {}).get("phase", "Unknown")
    if phase != "Running":
        raise KubeError("%s is %s, not Running: %s" % (where, phase, _phase_reason(pod, phase)),
                        _phase_hint(name, ns, phase), reason="NotRunning")
    check_target(pod, target_container)


def check_target(pod: Dict[str, Any], target_container: Optional[str]) -> None:
    """--target must name a regular or init container (the API refuses ephemeral ones)."""
    if not target_container:
        return
    meta = pod.get("metadata", {})
    regular = [c.get("name") for c in (pod.get("spec", {}).get("containers") or [])]
    init = [c.get("name") for c in (pod.get("spec", {}).get("initContainers") or [])]
    if target_container not in regular + init:
        raise KubeError('pod "%s" in namespace "%s" has no container "%s"'
                        % (meta.get("name", "?"), meta.get("namespace", "?"), target_container),
                        "--target takes one of: %s" % ", ".join(regular + init), reason="NoSuchContainer")


def _phase_reason(pod: Dict[str, Any], phase: str) -> str:
    if phase == "Pending":
        if not pod.get("spec", {}).get("nodeName"):
            return "it is not scheduled to a node yet"
        return "its containers have not started yet"
    if phase in ("Succeeded", "Failed"):
        return "it has finished, and no container can start in it again"
    return "its node does not report it"


def _phase_hint(name: str, ns: str, phase: str) -> str:
    if phase == "Pending":
        return "wait for it (kubectl wait --for=condition=Ready pod/%s -n %s) and try again" % (name, ns)
    return "probe from a Running pod of the same workload (kubectl get pods -n %s)" % ns


def node_name(pod: Dict[str, Any]) -> str:
    return pod.get("spec", {}).get("nodeName", "")


# Service-mesh proxies that run beside the app and take over its traffic.
SIDECARS = ("istio-proxy", "linkerd-proxy", "envoy", "cilium-envoy", "kuma-sidecar", "consul-dataplane")
# Istio's iptables leave the proxy's own UID alone (its traffic would loop otherwise), so a
# process running as that UID goes around the sidecar: istio.io, "Traffic capture" / proxy UID.
ISTIO_PROXY_UID = 1337


def sidecar_of(pod: Dict[str, Any]) -> str:
    """The name of the pod's service-mesh sidecar, or ""."""
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if isinstance(c, dict) and c.get("name") in SIDECARS:
            return c["name"]
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    for key, name in (("sidecar.istio.io/status", "istio-proxy"), ("linkerd.io/proxy-version", "linkerd-proxy")):
        if key in annotations:
            return name
    return ""


def sidecar_warning(pod: Dict[str, Any], bypass: bool) -> str:
    """What a TCP verdict from this pod is worth, when a mesh proxy answers its connects."""
    sidecar = sidecar_of(pod)
    if not sidecar:
        return ""
    if bypass:
        if sidecar == "istio-proxy":
            return ("the probe runs as UID %d (--bypass-mesh), which Istio's traffic capture leaves alone: "
                    "its verdicts are the network's, not the sidecar's" % ISTIO_PROXY_UID)
        return ("--bypass-mesh runs the probe as Istio's proxy UID %d, but this pod's sidecar is %s: it may "
                "still answer the connects itself" % (ISTIO_PROXY_UID, sidecar))
    return ("the pod runs a service-mesh sidecar (%s), which answers TCP connects itself: a port can look open "
            "when the destination is not%s" % (sidecar, "; --bypass-mesh probes around it (as UID %d, a change "
                                                      "of the container's securityContext)" % ISTIO_PROXY_UID
                                                      if sidecar == "istio-proxy" else ""))
