"""Turning kubectl's stderr into a KubeError that says what happened and what to do.

Pure: text in, error out. kubectl.py calls it for every failed call.
"""
from __future__ import annotations

import re
from typing import List, Optional

from .errors import KubeError

RBAC_NEEDED = ("get (and watch) pods; get and patch pods/ephemeralcontainers (update with kubectl < 1.32); "
               "get pods/log")

_FORBIDDEN = re.compile(r'User "([^"]*)" cannot (\w+) resource "([^"]*)"(?: in API group "[^"]*")?'
                        r'(?: in the namespace "([^"]*)")?')
_POD_SECURITY = re.compile(r'violates PodSecurity "([^"]+)": (.*)$', re.S)
_RULE_CONTAINERS = re.compile(r'containers? ((?:"[^"]+"(?:, )?)+) must')
_SERVER_PREFIX = re.compile(r'^(?:error: )?(?:Error from server(?: \(\w+\))?: )?', re.I)


_KLOG = re.compile(r"^[IWEF]\d{4} ")  # client-go's log lines, printed before kubectl's own message


def first_line(stderr: str) -> str:
    """kubectl's own message: the first line that is not a client-go log line."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    own = [l for l in lines if not _KLOG.match(l)]
    return (own or lines or [""])[0]


def is_client_too_old(stderr: str) -> bool:
    """kubectl < 1.32 has no --subresource=ephemeralcontainers (< 1.24: no --subresource)."""
    return ('invalid subresource value: "ephemeralcontainers"' in stderr
            or "unknown flag: --subresource" in stderr or "unknown flag: --patch-file" in stderr)


def is_not_applied(stderr: str) -> bool:
    """A JSON patch that did not apply to the object as it was (a failed test, a missing path):
    the API server answers 422 without details, and kubectl words it so."""
    return "the server rejected our request due to an error in our request" in stderr


def is_removal(stderr: str) -> bool:
    """A change of the ephemeral containers that would remove one: validation refuses it."""
    return "may not be removed" in stderr


# Answers that say a write was refused before anything was written (the API server's checks, the
# client's own); any other failure (a 5xx, a timeout, a connection lost) leaves it unknown.
_REFUSALS = ("(NotFound)", "(Forbidden)", "(Conflict)", "(AlreadyExists)", "(Unauthorized)", " is invalid: ",
             "The request is invalid", "denied the request", "the server could not find the requested resource",
             "was refused - did you specify", 'error: context "')


def is_refusal(stderr: str) -> bool:
    return is_client_too_old(stderr) or any(words in stderr for words in _REFUSALS)


def is_conflict(stderr: str) -> bool:
    return "(Conflict)" in stderr or "the object has been modified" in stderr


def is_not_started(stderr: str) -> bool:
    """`kubectl logs` before the container runs: BadRequest ... is waiting to start."""
    return "is waiting to start" in stderr


def classify(stderr: str, pod: str, namespace: str, step: str, container: str = "") -> KubeError:
    """A KubeError for a failed kubectl call of `step` (get, patch, replace, poll, logs)."""
    text = stderr.strip()
    line = first_line(text)
    if "(NotFound)" in text and ('namespaces "%s" not found' % namespace) in text:
        return KubeError('namespace "%s" not found' % namespace,
                         "check -n (kubectl get namespaces) or --context", reason="NamespaceNotFound", stderr=text)
    if "(NotFound)" in text and ('nodes "%s" not found' % pod) in text:
        return KubeError('node "%s" not found' % pod, "list them with kubectl get nodes", reason="NodeNotFound",
                         stderr=text)
    if "(AlreadyExists)" in text:
        return KubeError('pod "%s" already exists in namespace "%s"' % (pod, namespace),
                         "choose another name, or delete it: kubectl delete pod %s -n %s" % (pod, namespace),
                         reason="AlreadyExists", stderr=text)
    if "(NotFound)" in text and ('pods "%s" not found' % pod) in text:
        return KubeError('pod "%s" not found in namespace "%s"' % (pod, namespace),
                         "check the name with kubectl get pods -n %s" % namespace, reason="PodNotFound", stderr=text)
    if "(Forbidden)" in text:
        security = _POD_SECURITY.search(text)
        if security:
            return _pod_security(security.group(1), security.group(2).strip(), namespace, container, text,
                                 created=step == "create")
        rbac = _FORBIDDEN.search(text)
        if rbac:
            return _forbidden(rbac.group(1), rbac.group(2), rbac.group(3), namespace, step, text)
    if "admission webhook" in text and "denied the request" in text:
        return KubeError("an admission webhook rejected the ephemeral container: %s" % _strip(line),
                         "ask the webhook's owner to allow ephemeral containers named reach-*",
                         reason="AdmissionDenied", stderr=text)
    if "the server could not find the requested resource" in text:
        return KubeError("this cluster does not serve pods/ephemeralcontainers",
                         "ephemeral containers need Kubernetes 1.25 or newer (1.23-1.24 only with the "
                         "EphemeralContainers feature gate)", reason="Unsupported", stderr=text)
    if " is invalid: " in text or "The request is invalid" in text:
        return KubeError("the API server rejected the ephemeral container: %s" % _invalid_detail(text),
                         _invalid_hint(text), reason="Invalid", stderr=text)
    if is_not_started(text):
        return KubeError('container "%s" has not started yet' % container,
                         "try again in a moment", reason="NotStarted", stderr=text)
    if "is not valid for pod" in text:
        return KubeError('pod "%s" has no container "%s"' % (pod, container),
                         "the ephemeral container was not added; run again", reason="NoSuchContainer", stderr=text)
    if "Unable to connect to the server" in text or "connection to the server" in text:
        return KubeError("cannot reach the Kubernetes API server: %s" % _strip(line),
                         "check your context (kubectl config current-context), VPN, --kubeconfig or --context",
                         reason="Unreachable", stderr=text)
    if "Unauthorized" in text or "must be logged in" in text:
        return KubeError("the API server did not accept your credentials",
                         "log in again or refresh your kubeconfig's credentials", reason="Unauthorized", stderr=text)
    context = re.search(r'context "([^"]*)" does not exist|context was not found for specified context: (\S+)', text)
    if context:
        return KubeError('context "%s" not found in your kubeconfig' % (context.group(1) or context.group(2)),
                         "list contexts with kubectl config get-contexts", reason="NoContext", stderr=text)
    if re.search(r"^error: stat .*: no such file or directory", line):
        return KubeError("cannot read the kubeconfig: %s" % _strip(line)[len("stat "):],
                         "check --kubeconfig and $KUBECONFIG", reason="NoKubeconfig", stderr=text)
    return KubeError("kubectl %s failed: %s" % (step, _strip(line) or "no message"),
                     "rerun with -v to see the kubectl commands", reason="Error", stderr=text)


def _strip(line: str) -> str:
    return _SERVER_PREFIX.sub("", line).strip()


def _forbidden(user: str, verb: str, resource: str, namespace: str, step: str, text: str) -> KubeError:
    message = 'forbidden: user "%s" cannot %s %s in namespace "%s"' % (user, verb, resource, namespace)
    if resource == "pods/ephemeralcontainers" and verb == "get":
        hint = ("kubectl reads pods/ephemeralcontainers before it writes, so the API names get first: "
                "ask for get and patch on pods/ephemeralcontainers (get and update with kubectl < 1.32)")
    elif resource == "pods/ephemeralcontainers":
        hint = "ask for get and %s on pods/ephemeralcontainers%s" % (
            verb, " (kubectl < 1.32 replaces the list with a PUT)" if verb == "update" else "")
    elif resource == "pods/log":
        hint = "ask for get on pods/log to read the probe's output"
    elif resource == "pods/exec":
        hint = "--reuse runs its probe with kubectl exec: ask for create on pods/exec"
    elif resource == "pods" and verb in ("create", "delete"):
        hint = "--copy-to and node/NAME create a pod and delete it after: ask for create and delete on pods"
    elif resource == "nodes":
        hint = "node/NAME reads the node for its taints: ask for get on nodes"
    else:
        hint = "reach needs: %s" % RBAC_NEEDED
    return KubeError(message, hint, reason="Forbidden", stderr=text)


def violating_containers(rules: str) -> List[str]:
    """Container names quoted in PodSecurity's rule texts, in order of first mention."""
    names: List[str] = []
    for match in _RULE_CONTAINERS.finditer(rules):
        for name in re.findall(r'"([^"]+)"', match.group(1)):
            if name not in names:
                names.append(name)
    return names


def _pod_security(level: str, rules: str, namespace: str, container: str, text: str,
                  created: bool = False) -> KubeError:
    what = "the pod reach creates" if created else "the ephemeral container"
    message = 'PodSecurity "%s" of namespace "%s" rejected %s: %s' % (level, namespace, what, rules)
    if created:
        return KubeError(message, "a copy keeps the original pod's settings; probe from a namespace whose level "
                         "allows them", reason="PodSecurity", stderr=text)
    others = [n for n in violating_containers(rules) if n != container]
    if others:
        hint = ("the pod already holds non-compliant container(s) %s; PodSecurity checks the whole pod on every "
                "update, so no ephemeral container can be added to it: probe from another pod of the same "
                "workload" % ", ".join(others))
    else:
        hint = "reach's own settings pass \"restricted\"; ask an admin about the namespace's policy"
    return KubeError(message, hint, reason="PodSecurity", stderr=text)


def _invalid_detail(text: str) -> str:
    causes = [l.lstrip("* ").strip() for l in text.splitlines() if l.startswith("* ")]
    if causes:
        return "; ".join(causes)
    line = first_line(text)
    _, _, detail = line.partition(" is invalid: ")
    return (detail or _strip(line)).strip()


def _invalid_hint(text: str) -> Optional[str]:
    if "may not be changed" in text or "Duplicate value" in text:
        return "a container of that name exists in the pod already; run again to draw a new name"
    if "may not be removed" in text:
        return "existing ephemeral containers cannot be replaced; add new ones only"
    return "rerun with -v to see the request"
