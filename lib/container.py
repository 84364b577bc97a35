"""The ephemeral container: its name, its spec, and the bodies that add it to a pod."""
from __future__ import annotations

import copy
import json
import random
import re
import string
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from . import probe
from .targets import Target

DEFAULT_IMAGE = "busybox:1.36"
DEFAULT_PULL_POLICY = "IfNotPresent"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
NAME_PREFIX = "reach-"
_RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUFFIX_CHARS = string.ascii_lowercase + string.digits

# Passes PodSecurity "restricted" on its own, whatever the pod sets. runAsUser matters:
# busybox and most debug images run as root, and runAsNonRoot alone makes the kubelet
# refuse them (CreateContainerConfigError) - kubectl debug's restricted profile has that bug.
RESTRICTED_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


class Spec(NamedTuple):
    name: str
    image: str
    pull_policy: str
    targets: Sequence[Target]
    timeout: float
    target_container: Optional[str] = None
    run_as_user: Optional[int] = None   # --bypass-mesh: Istio's proxy UID
    insecure: bool = False              # --insecure: https probes skip certificate verification


def random_suffix(rng: random.Random) -> str:
    return "".join(rng.choice(_SUFFIX_CHARS) for _ in range(5))


def is_valid_name(name: str) -> bool:
    return len(name) <= 63 and bool(_RFC1123_LABEL.match(name))


def container_names(pod: Dict[str, Any]) -> List[str]:
    spec = pod.get("spec", {})
    return [c.get("name", "") for key in ("containers", "initContainers", "ephemeralContainers")
            for c in spec.get(key) or []]


def pick_name(pod: Dict[str, Any], suffix: str, rng: random.Random) -> str:
    """`reach-<suffix>`, drawing a new random suffix while the pod already has that name."""
    taken = set(container_names(pod))
    name = NAME_PREFIX + suffix
    while name in taken:
        name = NAME_PREFIX + random_suffix(rng)
    return name


def build(spec: Spec) -> Dict[str, Any]:
    """The EphemeralContainer object."""
    container: Dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "imagePullPolicy": spec.pull_policy,
        "command": probe.command(spec.targets, spec.timeout, spec.insecure),
        "securityContext": copy.deepcopy(RESTRICTED_SECURITY_CONTEXT),
    }
    if spec.run_as_user is not None:
        container["securityContext"]["runAsUser"] = spec.run_as_user
    if spec.target_container:
        container["targetContainerName"] = spec.target_container
    return container


def strategic_patch_object(container: Dict[str, Any]) -> Dict[str, Any]:
    """For `kubectl patch --subresource=ephemeralcontainers --type=strategic`.

    Ephemeral containers merge by name, so the list holds only the new one.
    """
    return {"spec": {"ephemeralContainers": [container]}}


# The first operation of a JSON patch: the API server applies it to the pod as it is when the
# patch lands, so a pod that is not Running gets nothing, with no read of the pod before.
RUNNING_TEST = {"op": "test", "path": "/status/phase", "value": "Running"}


def json_patch_ops(container: Dict[str, Any], first: bool) -> List[Dict[str, Any]]:
    """For `kubectl patch --subresource=ephemeralcontainers --type=json`, onto a Running pod only.

    `first`: the pod has no ephemeral container yet. `add .../-` needs the list to be there, and
    `add` of the whole list is refused where the list would replace containers the pod has.
    """
    if first:
        return [RUNNING_TEST, {"op": "add", "path": "/spec/ephemeralContainers", "value": [container]}]
    return [RUNNING_TEST, {"op": "add", "path": "/spec/ephemeralContainers/-", "value": container}]


def json_patch(container: Dict[str, Any], first: bool) -> str:
    return _compact(json_patch_ops(container, first))


def replaced_pod(pod: Dict[str, Any], container: Dict[str, Any]) -> Dict[str, Any]:
    """The whole pod plus the new container, for PUT .../ephemeralcontainers (kubectl < 1.32)."""
    updated = copy.deepcopy(pod)
    spec = updated.setdefault("spec", {})
    spec["ephemeralContainers"] = (spec.get("ephemeralContainers") or []) + [container]
    return updated


def strategic_patch(container: Dict[str, Any]) -> str:
    return _compact(strategic_patch_object(container))


def replace_body(pod: Dict[str, Any], container: Dict[str, Any]) -> str:
    return _compact(replaced_pod(pod, container))


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
