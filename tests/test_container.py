import json
import random

import pytest

from conftest import fixture_calls
from lib import container, pods
from lib.errors import KubeError
from lib.targets import Target

POD = json.loads(fixture_calls("open")[0]["stdout"])
SPEC = container.Spec("reach-abcde", "busybox:1.36", "IfNotPresent", [Target("db", 5432)], 3)


def test_container_spec_is_restricted_and_pinned():
    c = container.build(SPEC)
    assert c["name"] == "reach-abcde"
    assert c["image"] == "busybox:1.36" and c["imagePullPolicy"] == "IfNotPresent"
    assert c["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["runAsUser"] == 65534
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "targetContainerName" not in c
    for forbidden in ("ports", "resources", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
        assert forbidden not in c


def test_target_container_is_set_when_asked():
    assert container.build(SPEC._replace(target_container="nginx"))["targetContainerName"] == "nginx"


def test_strategic_patch_holds_only_the_new_container():
    body = json.loads(container.strategic_patch(container.build(SPEC)))
    assert list(body) == ["spec"] and list(body["spec"]) == ["ephemeralContainers"]
    assert [c["name"] for c in body["spec"]["ephemeralContainers"]] == ["reach-abcde"]


def test_replace_body_is_the_pod_plus_the_container():
    pod = json.loads(json.dumps(POD))
    pod["spec"]["ephemeralContainers"] = [{"name": "reach-old", "image": "busybox:1.36"}]
    body = json.loads(container.replace_body(pod, container.build(SPEC)))
    assert body["metadata"]["resourceVersion"] == POD["metadata"]["resourceVersion"]
    assert [c["name"] for c in body["spec"]["ephemeralContainers"]] == ["reach-old", "reach-abcde"]
    assert pod["spec"]["ephemeralContainers"] == [{"name": "reach-old", "image": "busybox:1.36"}]  # not mutated


def test_names_are_valid_and_avoid_the_pods_own():
    rng = random.Random(7)
    for _ in range(200):
        assert container.is_valid_name(container.NAME_PREFIX + container.random_suffix(rng))
    pod = {"spec": {"containers": [{"name": "reach-aaaaa"}], "ephemeralContainers": [{"name": "reach-bbbbb"}]}}
    assert container.pick_name(pod, "ccccc", rng) == "reach-ccccc"
    for taken in ("aaaaa", "bbbbb"):
        name = container.pick_name(pod, taken, rng)
        assert name not in ("reach-aaaaa", "reach-bbbbb") and container.is_valid_name(name)


@pytest.mark.parametrize("name, ok", [("reach-abcde", True), ("Reach-2T5QV", False), ("reach-", False),
                                      ("reach-" + "a" * 57, True), ("reach-" + "a" * 58, False), ("-x", False)])
def test_rfc1123_names(name, ok):
    assert container.is_valid_name(name) is ok


def test_running_pod_passes_checks():
    pods.check(POD, None)
    pods.check(POD, "nginx")


@pytest.mark.parametrize("change, reason, says", [
    (lambda p: p["status"].update(phase="Pending"), "NotRunning", "is Pending, not Running: its containers have not started"),
    (lambda p: (p["status"].update(phase="Pending"), p["spec"].pop("nodeName")), "NotRunning", "not scheduled"),
    (lambda p: p["status"].update(phase="Succeeded"), "NotRunning", "it has finished"),
    (lambda p: p["status"].update(phase="Failed"), "NotRunning", "it has finished"),
    (lambda p: p["metadata"].setdefault("annotations", {}).update({"kubernetes.io/config.mirror": "x"}), "MirrorPod",
     "static (mirror) pod"),
    (lambda p: p["metadata"].update(deletionTimestamp="2026-11-22T11:18:28Z"), "Terminating", "is terminating"),
])
def test_pods_that_cannot_take_a_probe(change, reason, says):
    pod = json.loads(json.dumps(POD))
    change(pod)
    with pytest.raises(KubeError) as info:
        pods.check(pod, None)
    assert info.value.reason == reason and says in info.value.message
    assert info.value.hint


def test_unknown_target_container_lists_the_real_ones():
    with pytest.raises(KubeError) as info:
        pods.check(POD, "app")
    assert info.value.message == 'pod "web-open" in namespace "default" has no container "app"'
    assert info.value.hint == "--target takes one of: nginx"
