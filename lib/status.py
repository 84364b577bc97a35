"""Reading an ephemeral container's state, as printed by the jsonpath poll."""
from __future__ import annotations

import json
from typing import Any, Dict, NamedTuple, Optional

# Waiting reasons that will not heal by waiting longer (the kubelet retries pulls with
# back-off for ever; a user at a terminal wants the reason now).
FATAL_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                 "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
                 "PreCreateHookError", "PreStartHookError")
FATAL_TERMINATED = ("StartError", "ContainerCannotRun")


class State(NamedTuple):
    phase: str                     # absent | waiting | running | terminated | failed
    reason: str = ""
    message: str = ""
    exit_code: Optional[int] = None

    @property
    def started(self) -> bool:
        return self.phase in ("running", "terminated")


def parse(text: str) -> State:
    """State from `{.status.ephemeralContainerStatuses[?(@.name=="X")].state}` output."""
    text = text.strip()
    if not text:
        return State("absent")
    try:
        state: Dict[str, Any] = json.loads(text)
    except ValueError:
        return State("absent", message=text)
    return from_dict(state)


def from_dict(state: Dict[str, Any]) -> State:
    if "terminated" in state:
        t = state["terminated"] or {}
        reason, message = t.get("reason", ""), t.get("message", "")
        if reason in FATAL_TERMINATED:
            return State("failed", reason, message, t.get("exitCode"))
        return State("terminated", reason, message, t.get("exitCode"))
    if "running" in state:
        return State("running")
    w = state.get("waiting") or {}
    reason = w.get("reason", "")
    if reason in FATAL_WAITING:
        return State("failed", reason, w.get("message", ""))
    return State("waiting", reason, w.get("message", ""))


def failure_hint(state: State, image: str) -> str:
    """What to try when a container failed to start."""
    reason, message = state.reason, state.message
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        return ("the node could not pull %s: use --image with an image the node can pull (e.g. a copy in "
                "your own registry); ephemeral containers pull with the pod's imagePullSecrets" % image)
    if reason == "InvalidImageName":
        return "%r is not a valid image reference: fix --image" % image
    if reason == "ErrImageNeverPull":
        return "%s is not on the node and --image-pull-policy is Never: use IfNotPresent" % image
    if "executable file not found" in message or "no such file or directory" in message:
        return "the image has no /bin/sh to run the probe: use --image busybox:1.36 (or any image with sh and nc)"
    if reason == "CreateContainerConfigError" and "non-root" in message:
        return "the image's user cannot run as non-root: use --image busybox:1.36"
    return "see kubectl describe pod for events, or try --image busybox:1.36"
