"""Which pods a check runs from: one pod, a label selector, or a workload. Pure, but for `resolve`,
which reads through a Kubectl.

A workload (deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME) stands for the pods its
selector matches. Pods that cannot take the probe are kept, as skipped, with the reason.
"""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from . import pods
from .errors import KubeError, UsageError

WORKLOADS = {"deploy": "deployment", "deployment": "deployment", "deployments": "deployment",
             "sts": "statefulset", "statefulset": "statefulset", "statefulsets": "statefulset",
             "ds": "daemonset", "daemonset": "daemonset", "daemonsets": "daemonset",
             "rs": "replicaset", "replicaset": "replicaset", "replicasets": "replicaset",
             "job": "job", "jobs": "job"}
POD_KINDS = ("pod", "pods", "po")


class Source(NamedTuple):
    """Where to run from, as given: a pod, a workload or a selector, in a namespace (None: the
    context's; all_namespaces for -A)."""
    pod: str = ""
    workload: str = ""          # kind/name, kind canonical (deployment/web)
    selector: str = ""
    namespace: Optional[str] = None
    all_namespaces: bool = False

    def describe(self) -> str:
        what = self.pod and "pod/" + self.pod or self.workload or "-l " + self.selector
        return what + (" (all namespaces)" if self.all_namespaces else " in " + self.namespace if self.namespace
                       else "")


class Skipped(NamedTuple):
    namespace: str
    pod: str
    reason: str


def parse_ref(text: str) -> Source:
    """POD, pod/NAME, or KIND/NAME of a workload."""
    kind, slash, name = text.partition("/")
    if not slash:
        return Source(pod=text)
    if not name:
        raise UsageError("%r names no object: give KIND/NAME, e.g. deploy/web" % text)
    if kind in POD_KINDS:
        return Source(pod=name)
    if kind.lower() in WORKLOADS:
        return Source(workload="%s/%s" % (WORKLOADS[kind.lower()], name))
    raise UsageError("%r: reach runs from a pod, a workload (deploy, sts, ds, rs, job) or -l SELECTOR" % text)


def selector_text(selector: Dict[str, Any]) -> str:
    """A metav1.LabelSelector as kubectl -l takes it."""
    parts = ["%s=%s" % kv for kv in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), sorted(expr.get("values") or [])
        parts.append({"In": "%s in (%s)" % (key, ",".join(values)), "NotIn": "%s notin (%s)" % (key, ",".join(values)),
                      "Exists": key, "DoesNotExist": "!" + str(key)}[op])
    return ",".join(parts)


def split(found: List[Dict[str, Any]], one: bool) -> Tuple[List[Dict[str, Any]], List[Skipped]]:
    """The pods to run from (sorted by namespace and name) and those skipped, with why."""
    runnable, skipped, owners = [], [], set()
    for pod in sorted(found, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"].get("name", ""))):
        meta = pod["metadata"]
        try:
            pods.check(pod, None)
        except KubeError as e:
            skipped.append(Skipped(meta.get("namespace", ""), meta.get("name", ""), _reason(e.message)))
            continue
        owner = _owner(pod)
        if one and owner in owners:
            continue
        owners.add(owner)
        runnable.append(pod)
    return runnable, skipped


def _owner(pod: Dict[str, Any]) -> str:
    """The workload a pod belongs to, for --one: its controller, or its pod-template-hash group."""
    meta = pod["metadata"]
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return "%s/%s/%s" % (meta.get("namespace"), ref.get("kind"), ref.get("name"))
    return "%s/pod/%s" % (meta.get("namespace"), meta.get("name"))


def _reason(message: str) -> str:
    # 'pod "x" in namespace "y" is Pending, not Running: ...' -> 'Pending, not Running: ...'
    return message.split('" is ', 1)[1] if '" is ' in message else message


def resolve(kube: Any, source: Source, one: bool) -> Tuple[List[Dict[str, Any]], List[Skipped], str]:
    """The pods of a workload or selector, split into runnable and skipped, and the selector used."""
    selector = source.selector
    ns_args = ["-A"] if source.all_namespaces else (["-n", source.namespace] if source.namespace else [])
    if source.workload:
        if source.all_namespaces:
            raise UsageError("%s names one object: give its namespace with -n, not -A" % source.workload)
        kind, name = source.workload.split("/", 1)
        (workload,), _ = kube.get_list([kind, name] + ns_args)
        spec_selector = (workload.get("spec") or {}).get("selector") or {}
        selector = selector_text(spec_selector)
        if not selector:
            raise KubeError("%s has no pod selector" % source.workload, "name its pods with -l", reason="NoSelector")
        ns_args = ["-n", workload["metadata"]["namespace"]]
    found, _ = kube.get_list(["pods", "-l", selector] + ns_args)
    if not found:
        raise KubeError("no pod matches %s" % source.describe(),
                        "check the selector with kubectl get pods -l %s" % selector, reason="NoPods")
    runnable, skipped = split(found, one)
    return runnable, skipped, selector
