"""--print-patch: the body a run would send, built without sending it (or needing a cluster)."""
from __future__ import annotations

import json
import random
from typing import Any, Dict, Optional

from . import container, pods
from .errors import KubeError, UsageError

PATCH_TYPES = ("strategic", "json", "replace")


def body(spec: container.Spec, pod: Optional[Dict[str, Any]], patch_type: str) -> Any:
    """The strategic-merge patch; the JSON patch a one-pod run sends (kubectl.PatchAhead: the form
    that fits the pod, the appending one without a pod); or the whole pod for the PUT of kubectl < 1.32."""
    c = container.build(spec)
    if pod is not None:
        try:
            pods.check_target(pod, spec.target_container)
        except KubeError as e:   # the pod is the user's file: a usage error, not Kubernetes'
            raise UsageError(e.message, e.hint) from None
        taken = container.container_names(pod)
        if spec.name in taken:
            raise UsageError('pod "%s" already has a container named %s' % (pod["metadata"].get("name"), spec.name),
                             "choose another --name")
    if patch_type == "strategic":
        return container.strategic_patch_object(c)
    if patch_type == "json":
        return container.json_patch_ops(c, first=pod is not None and not (pod.get("spec") or {}).get(
            "ephemeralContainers"))
    if pod is None:
        raise UsageError("--patch-type replace prints the whole pod, so it needs the pod",
                         "give --pod-file pod.json (kubectl get pod NAME -o json), or a POD to read")
    return container.replaced_pod(pod, c)


def pick_name(pod: Optional[Dict[str, Any]], name: Optional[str], suffix: Optional[str]) -> str:
    """--name as given (validated), else reach-<suffix or random> not taken in the pod."""
    if name:
        if not container.is_valid_name(name):
            raise UsageError("--name %r is not a valid container name: lower-case letters, digits and '-', "
                             "at most 63, starting and ending with a letter or digit" % name)
        return name
    rng = random.Random()
    return container.pick_name(pod or {}, suffix or container.random_suffix(rng), rng)


def render(obj: Any, fmt: str) -> str:
    """Stable: sorted keys, two-space indent, so a CI job can diff it against a golden file."""
    if fmt == "yaml":
        import yaml
        return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"
