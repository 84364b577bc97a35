"""The API server's validation of ephemeral containers, in its own words and field paths.

Mirrors what kube-apiserver checks on the pods/ephemeralcontainers subresource
(pkg/apis/core/validation: validateEphemeralContainers and ValidatePodEphemeralContainersUpdate)
for the fields an ephemeral container can get wrong. Pure: containers and a pod in, errors out.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import fieldpath
from .fieldpath import Path

LIST = ("spec", "ephemeralContainers")
# Fields EphemeralContainerCommon has that the allow-list refuses, and whether {} counts as
# unset (a struct value in Go) or as set (a pointer or a list: present is set).
FORBIDDEN_FIELDS = (("lifecycle", False), ("livenessProbe", False), ("ports", False), ("readinessProbe", False),
                    ("resizePolicy", False), ("resources", True), ("restartPolicy", False),
                    ("restartPolicyRules", False), ("startupProbe", False))
FORBIDDEN_DETAIL = "cannot be set for an Ephemeral Container"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MESSAGE_POLICIES = ("FallbackToLogsOnError", "File")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_FORMAT = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")

# RelaxedEnvironmentVariableValidation, on by default since Kubernetes 1.32 and GA in 1.34.
_ENV_NAME = re.compile(r"^[ -<>-~]+$")
ENV_NAME_FORMAT = "a valid environment variable name must consist only of printable ASCII characters other than '='"

Error = Tuple[Path, str]


def pod_container_names(pod: Optional[Dict[str, Any]], key: str) -> List[str]:
    return [c.get("name", "") for c in ((pod or {}).get("spec") or {}).get(key) or [] if isinstance(c, dict)]


def check_container(c: Dict[str, Any], path: Path, pod: Optional[Dict[str, Any]]) -> Iterator[Error]:
    """One ephemeral container on its own, and against the pod when it is known."""
    yield from _name(c.get("name"), path + ("name",))
    image = c.get("image")
    if not image:
        yield path + ("image",), fieldpath.required()
    elif isinstance(image, str) and image != image.strip():
        yield path + ("image",), fieldpath.invalid(image, "must not have leading or trailing whitespace")
    yield from _one_of(c, "imagePullPolicy", PULL_POLICIES, path)
    yield from _one_of(c, "terminationMessagePolicy", MESSAGE_POLICIES, path)
    for key, struct in FORBIDDEN_FIELDS:
        value = c.get(key)
        if value is not None and not (struct and value == {}):
            yield path + (key,), fieldpath.forbidden(FORBIDDEN_DETAIL)
    yield from _volume_mounts(c.get("volumeMounts") or [], path + ("volumeMounts",), pod)
    for i, env in enumerate(c.get("env") or []):
        if isinstance(env, dict) and not env.get("name"):
            yield path + ("env", i, "name"), fieldpath.required()
        elif isinstance(env, dict) and isinstance(env["name"], str) and not _ENV_NAME.match(env["name"]):
            yield path + ("env", i, "name"), fieldpath.invalid(env["name"], ENV_NAME_FORMAT)
    sc = c.get("securityContext") or {}
    for key in ("runAsUser", "runAsGroup"):
        if isinstance(sc.get(key), int) and not 0 <= sc[key] <= 2147483647:
            yield path + ("securityContext", key), fieldpath.invalid(
                sc[key], "must be between 0 and 2147483647, inclusive")
    target = c.get("targetContainerName")
    if target and pod is not None:
        if target not in pod_container_names(pod, "containers") + pod_container_names(pod, "initContainers"):
            yield path + ("targetContainerName",), fieldpath.not_found(target)


def _name(name: Any, path: Path) -> Iterator[Error]:
    if not name:
        yield path, fieldpath.required()
        return
    if not isinstance(name, str):
        return  # the structure check reports the type
    if len(name) > 63:
        yield path, fieldpath.invalid(name, "must be no more than 63 characters")
    if not _LABEL.match(name):
        yield path, fieldpath.invalid(name, LABEL_FORMAT)


def _one_of(c: Dict[str, Any], key: str, allowed: Tuple[str, ...], path: Path) -> Iterator[Error]:
    value = c.get(key)
    if value and value not in allowed:  # unset or "" is defaulted
        yield path + (key,), fieldpath.not_supported(value, allowed)


def _volume_mounts(mounts: List[Any], path: Path, pod: Optional[Dict[str, Any]]) -> Iterator[Error]:
    volumes = {v.get("name") for v in ((pod or {}).get("spec") or {}).get("volumes") or [] if isinstance(v, dict)}
    for i, mount in enumerate(mounts):
        if not isinstance(mount, dict):
            continue
        # Sub-paths are bind mounts that outlive the container until the pod ends.
        for key in ("subPath", "subPathExpr"):
            if mount.get(key):
                yield path + (i, key), fieldpath.forbidden(FORBIDDEN_DETAIL)
        if pod is not None and mount.get("name") and mount["name"] not in volumes:
            yield path + (i, "name"), fieldpath.not_found(mount["name"])


def check_names(in_order: List[Tuple[Dict[str, Any], Path, bool]], pod: Optional[Dict[str, Any]]) -> Iterator[Error]:
    """Names unique across regular, init and ephemeral containers: the pod's list after the
    update, in order, each (container, API path, whether to report it)."""
    taken = set(pod_container_names(pod, "containers") + pod_container_names(pod, "initContainers"))
    for c, path, report in in_order:
        name = c.get("name")
        if not isinstance(name, str) or not name:
            continue
        if name in taken and report:
            yield path + ("name",), fieldpath.duplicate(name)
        taken.add(name)


def check_update(existing: List[Dict[str, Any]], result: List[Dict[str, Any]]) -> Iterator[Error]:
    """What the update may not do to the containers already there: remove or change them."""
    after = {c["name"]: c for c in result if isinstance(c, dict) and isinstance(c.get("name"), str)}
    for old in existing:
        name = old.get("name")
        if name not in after:
            yield LIST, fieldpath.forbidden("existing ephemeral containers %s may not be removed" % fieldpath.value(name))
        elif semantic(old) != semantic(after[name]):
            yield LIST, fieldpath.forbidden("existing ephemeral containers %s may not be changed" % fieldpath.value(name))


def semantic(c: Dict[str, Any]) -> Any:
    """A container as the server compares it: its defaults applied, unset and empty alike."""
    c = dict(c)
    image = str(c.get("image") or "")
    latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
    for key, default in (("terminationMessagePath", "/dev/termination-log"), ("terminationMessagePolicy", "File"),
                         ("imagePullPolicy", "Always" if latest and "@" not in image else "IfNotPresent")):
        c[key] = c.get(key) or default
    return _prune(c)


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [], "", False, 0)}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value
