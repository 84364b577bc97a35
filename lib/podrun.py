"""A run in a pod reach creates and deletes: a copy of the pod (--copy-to) or a pod on a node's
host network (node/NAME). The original pod is only read.

create -> watch until the probe container runs or ends -> read the verdicts -> delete. The
delete happens however the run ends (failure, Ctrl-C, a bug), unless --keep; it is shielded
from a second Ctrl-C, and it only ever deletes the pod this run created: a create that may or
may not have happened is checked by the run's mark on the pod before anything is deleted.
A pod that outlives its run is named in the output with the command that deletes it.
"""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional

from . import apierrors, container, interrupts, newpods, pods
from .errors import KubeError, ProbeError, ReachError
from .kubectl import REGULAR
from .run import Interrupted, Run, RunResult

# A create refused for one of these created nothing; any other failure (a timeout, a lost
# connection, a 504 "may still be processing") may have created the pod.
_REFUSED = ("AlreadyExists", "Forbidden", "PodSecurity", "Invalid", "NamespaceNotFound", "AdmissionDenied",
            "Unauthorized", "Unreachable", "NoContext", "NoKubeconfig", "KubectlMissing", "NoSh")


class PodMode(NamedTuple):
    copy_to: str = ""          # --copy-to NAME
    node: str = ""             # node/NAME
    isolate: bool = False      # the copy drops the original's labels
    same_node: bool = False    # the copy goes to the original's node
    share_processes: bool = False
    keep: bool = False         # leave the pod when done


class PodRun(Run):
    statuses = REGULAR
    watch_first = False   # no pod to watch before it is created

    def __init__(self, request: Any, mode: PodMode, *args: Any, **kwargs: Any):
        super().__init__(request, *args, **kwargs)
        self.pod_mode = mode
        self.mode = "node" if mode.node else "copy"
        # the mark on the pod this run creates; fixed by the tests' name suffix, as the name is
        self.run_id = (request.name_suffix or container.random_suffix(self.rng)) * 2
        self.created = ""     # the pod this run created, or may have created (then `sure` is False)
        self.sure = False
        self.cleanup_interrupted = False
        self.notes: List[str] = []

    def execute(self) -> RunResult:
        try:
            result = self._execute_in_new_pod()
        except KeyboardInterrupt:
            raise Interrupted("interrupted; %s" % self._cleanup()) from None
        except ReachError as e:
            if self.created:
                e.hint += "%s(%s)" % ("; " if e.hint else "", self._cleanup())
            raise
        except BaseException:   # a bug of ours: still no pod left behind
            self._cleanup()
            raise
        done = self._cleanup()
        if self.cleanup_interrupted:
            raise Interrupted("interrupted while cleaning up; %s" % done)
        return result._replace(notes=result.notes + (done,), kubectl_calls=self.kube.calls)

    def _execute_in_new_pod(self) -> RunResult:
        req, kube, mode = self.req, self.kube, self.pod_mode
        began = self._mark = self.clock.now()
        if mode.node:
            source = self._node()
            self.namespace = req.namespace or kube.current_namespace()
            self._check_host_network()
        else:
            source = kube.get_pod(req.pod, req.namespace)
            self.namespace = source["metadata"]["namespace"]
            if source["metadata"].get("deletionTimestamp"):
                raise KubeError('pod "%s" in namespace "%s" is terminating' % (req.pod, self.namespace),
                                "copy another pod of the same workload", reason="Terminating")
        self._lap("get_ms")
        probe = self._spec(source if not mode.node else {})
        self.name = probe["name"]
        if mode.node:
            body = newpods.node_pod(source, probe, self.name, self.namespace, self.run_id)
            where = "node %s's host network" % mode.node
        else:
            body = newpods.copy_of(source, probe, mode.copy_to, mode.isolate, mode.same_node, mode.share_processes,
                                   self.run_id)
            where = "copy %s of pod %s" % (mode.copy_to, req.pod)
            self.notes.append(_copy_note(mode, req.pod))
        self.pod_name = body["metadata"]["name"]
        self.ui.progress("creating pod %s/%s: the probe runs from %s" % (self.namespace, self.pod_name, where))
        state = self._add_and_start(body, probe)
        self._lap("start_ms")
        verdicts = self._collect(state)
        self._lap("probe_ms")
        self.timings["total_ms"] = int(round((self.clock.now() - began) * 1000))
        node = mode.node or pods.node_name(self.placed or body) or ""
        # --explain reads the path from where the probe ran: the copy (its labels), not the original
        return RunResult(req.pod if not mode.node else self.pod_name, self.namespace, node, self.name, req.image,
                         verdicts, dict(self.timings), kube.calls, body if not mode.node else None, (),
                         mode=self.mode, probe_pod=self.pod_name, notes=tuple(self.notes))

    placed: Optional[Dict[str, Any]] = None   # the pod as last read, once scheduled

    def _add(self, pod: Dict[str, Any], spec: Dict[str, Any]) -> None:
        self.created, self.sure = pod["metadata"]["name"], False   # from here on it may exist
        try:
            self.placed = self.kube.create_pod(pod)
        except KubeError as e:
            if e.reason in _REFUSED:
                self.created = ""   # refused: nothing to delete, and a pod of that name is somebody else's
            if e.reason == "PodSecurity":
                e.hint = self._host_network_hint(e.stderr) if self.pod_mode.node else (
                    "the copy keeps the pod's own containers and settings, and they do not pass the namespace's "
                    "level now (the pod was admitted before it was raised, or is exempt): probe without --copy-to")
            raise
        self.sure = True

    def _wait(self, source: Any = None) -> Any:
        try:
            return super()._wait(source)
        except ProbeError as e:
            why = self._unscheduled()
            if why:
                e.message += "; pod %s is not scheduled: %s" % (self.pod_name, why)
            raise

    def _unscheduled(self) -> str:
        """The scheduler's word on a pod that never started (0/3 nodes are available: ...)."""
        try:
            pod = self.kube.get_pod(self.pod_name, self.namespace)
        except KubeError:
            return ""
        self.placed = pod
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return condition.get("message") or condition.get("reason") or "no reason given"
        return ""

    def _node(self) -> Dict[str, Any]:
        """The node (for its taints). A user who may not read nodes still gets a pod, with no tolerations."""
        try:
            return self.kube.get_object("node", self.pod_mode.node)
        except KubeError as e:
            if e.reason != "Forbidden":
                raise
            self.notes.append("may not read node %s (get nodes), so the pod tolerates none of its taints"
                              % self.pod_mode.node)
            return {"metadata": {"name": self.pod_mode.node}, "spec": {}}

    def _check_host_network(self) -> None:
        """Refuse before creating anything when the namespace's PodSecurity level forbids host networking."""
        try:
            namespace = self.kube.get_object("namespace", self.namespace)
        except KubeError as e:
            if e.reason == "NamespaceNotFound":
                raise
            return   # cannot read it: the API server will say
        level = newpods.enforced_level(namespace)
        if newpods.allows_host_network(level) is False:
            raise KubeError('PodSecurity "%s" of namespace "%s" forbids host networking, which a node probe needs'
                            % (level, self.namespace), self._host_network_hint(), reason="PodSecurity")

    def _host_network_hint(self, stderr: str = "") -> str:
        """A namespace that would admit the node pod. When the API server refused it in a namespace
        without a level of its own, the cluster's default refused it: only privileged ones would do."""
        try:
            namespaces, _ = self.kube.get_list(["namespaces"])
        except KubeError:
            namespaces = []
        here = next((n for n in namespaces if n["metadata"]["name"] == self.namespace), {})
        by_default = bool(stderr) and not newpods.enforced_level(here)
        fits = [n for n in newpods.host_network_namespaces(namespaces, unset_too=not by_default)
                if n != self.namespace]
        if fits:
            return "use -n %s (PodSecurity %s there)" % (
                fits[0], "privileged" if newpods.enforced_level(_named(namespaces, fits[0])) else "not set")
        return "use -n with a namespace labelled %s=privileged" % newpods.PSA_ENFORCE

    def _cleanup(self) -> str:
        """Delete the pod this run created (unless --keep); what happened, for the output."""
        name, ns = self.created, self.namespace
        self.created = ""
        if not name:
            return "nothing was created" if not self.added else "pod %s/%s was deleted" % (ns, self.pod_name)
        if self.pod_mode.keep:
            return "pod %s/%s is kept (--keep): delete it with kubectl delete pod %s -n %s" % (ns, name, name, ns)
        left = "delete it with kubectl delete pod %s -n %s" % (name, ns)
        result = None
        ours = self.sure
        try:
            with interrupts.deferred():   # a Ctrl-C now is held until the delete has run
                ours = ours or self._is_ours(name, ns)
                if ours:
                    self.ui.progress("deleting pod %s/%s" % (ns, name))
                    result = self.kube.delete_pod(name, ns)
        except KeyboardInterrupt:
            self.cleanup_interrupted = True
        except KubeError as e:
            return "pod %s/%s may be left: %s; %s" % (ns, name, e.message, left)
        if not ours:
            return "pod %s/%s was not created by this run (or is gone): left alone" % (ns, name)
        if result is None:
            return "pod %s/%s may be left: interrupted; %s" % (ns, name, left)
        if not result.ok:
            why = apierrors.classify(result.stderr, name, ns, "delete").message
            return "pod %s/%s is left: %s; %s" % (ns, name, why, left)
        return "pod %s/%s was deleted" % (ns, name)

    def _is_ours(self, name: str, ns: str) -> bool:
        """Whether pod `name` carries this run's mark (a create that may not have happened)."""
        try:
            return newpods.made_by(self.kube.get_pod(name, ns), self.run_id)
        except KubeError:
            return False


def _copy_note(mode: PodMode, original: str) -> str:
    if mode.isolate:
        return ("copy %s has none of %s's labels (--isolate): NetworkPolicies that select %s by label may not "
                "select it" % (mode.copy_to, original, original))
    return ("copy %s keeps %s's labels, so NetworkPolicies select it as they select %s; it is owned by %s (no "
            "ReplicaSet adopts it) and never Ready (no Service sends it traffic, unless it publishes not-ready "
            "addresses); while it exists, a PodDisruptionBudget that selects it allows no eviction"
            % (mode.copy_to, original, original, original))


def _named(items: List[Dict[str, Any]], name: str) -> Dict[str, Any]:
    return next((i for i in items if i["metadata"]["name"] == name), {})
