"""lint: a table of patches with the exact findings expected, and agreement with every patch
the real API server answered in the recordings (fixtures/patches.jsonl)."""
import copy
import json
import os

import pytest

from conftest import FIXTURES, fixture_calls
from lib import container, lint
from lib.targets import parse_target

NAME = "reach-abcde"


def reach_container(**changes):
    c = container.build(container.Spec(NAME, container.DEFAULT_IMAGE, container.DEFAULT_PULL_POLICY,
                                       [parse_target("db:5432")], 3))
    for key, value in changes.items():
        if value is None:
            c.pop(key, None)
        else:
            c[key] = value
    return c


def strategic(*containers):
    return {"spec": {"ephemeralContainers": list(containers)}}


def recorded_pod(fixture, with_ephemeral=False):
    """The pod JSON kube-apiserver returned in a recorded fixture."""
    pod = json.loads(fixture_calls(fixture)[0]["stdout"])
    if with_ephemeral:
        pod["spec"]["ephemeralContainers"] = [reach_container(name="reach-old00")]
    return pod


OPEN = recorded_pod("open")                      # default namespace: container nginx, no ephemeral ones
RESTRICTED = recorded_pod("restricted-ok")       # pod-level runAsNonRoot, runAsUser 101, seccomp RuntimeDefault
WITH_ONE = recorded_pod("open", with_ephemeral=True)
SC = "spec.ephemeralContainers[0].securityContext"
PSA = 'violates PodSecurity "restricted:latest": '
NO_CHANGE = ('adds no ephemeral container: the API server takes it and changes nothing (kubectl prints "patched '
             '(no change)")')



def _drop_command_of_existing(pod):
    del pod["spec"]["ephemeralContainers"][0]["command"]
    return pod


# (id, document, pod, --type, --level, [(path, message, API field or "")])
CASES = [
    ("compliant", strategic(reach_container()), None, None, "restricted", []),
    ("compliant-with-pod", strategic(reach_container()), OPEN, None, "baseline", []),
    ("compliant-restricted-pod", strategic(reach_container()), RESTRICTED, None, "restricted", []),
    ("ports", strategic(reach_container(ports=[{"containerPort": 80}])), None, None, "restricted",
     [("spec.ephemeralContainers[0].ports", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    ("resources", strategic(reach_container(resources={"limits": {"cpu": "100m"}})), None, None, "restricted",
     [("spec.ephemeralContainers[0].resources", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    ("empty-resources", strategic(reach_container(resources={})), None, None, "restricted", []),
    ("liveness", strategic(reach_container(livenessProbe={"exec": {"command": ["true"]}})), None, None,
     "restricted",
     [("spec.ephemeralContainers[0].livenessProbe", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    ("readiness", strategic(reach_container(readinessProbe={"tcpSocket": {"port": 80}})), None, None, "restricted",
     [("spec.ephemeralContainers[0].readinessProbe", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    ("startup", strategic(reach_container(startupProbe={"httpGet": {"port": "http"}})), None, None, "restricted",
     [("spec.ephemeralContainers[0].startupProbe", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    ("lifecycle", strategic(reach_container(lifecycle={"preStop": {"sleep": {"seconds": 1}}})), None, None,
     "restricted",
     [("spec.ephemeralContainers[0].lifecycle", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    ("resize-policy", strategic(reach_container(resizePolicy=[{"resourceName": "cpu", "restartPolicy": "NotRequired"}])),
     None, None, "restricted",
     [("spec.ephemeralContainers[0].resizePolicy", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    ("restart-policy", strategic(reach_container(restartPolicy="Always")), None, None, "restricted",
     [("spec.ephemeralContainers[0].restartPolicy", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    ("subpath", strategic(reach_container(volumeMounts=[{"name": "kube-api-access", "mountPath": "/x", "subPath": "a",
                                                         "subPathExpr": "$(P)"}])), None, None, "restricted",
     [("spec.ephemeralContainers[0].volumeMounts[0].subPath", "Forbidden: cannot be set for an Ephemeral Container", ""),
      ("spec.ephemeralContainers[0].volumeMounts[0].subPathExpr", "Forbidden: cannot be set for an Ephemeral Container",
       "")]),
    ("volume-not-in-pod", strategic(reach_container(volumeMounts=[{"name": "data", "mountPath": "/data"}])), OPEN,
     None, "baseline", [("spec.ephemeralContainers[0].volumeMounts[0].name", 'Not found: "data"', "")]),
    ("upper-case-name", strategic(reach_container(name="Reach-2T5QV")), None, None, "restricted",
     [("spec.ephemeralContainers[0].name", 'Invalid value: "Reach-2T5QV": ' + lint.apirules.LABEL_FORMAT, "")]),
    ("long-name", strategic(reach_container(name="r" * 64)), None, None, "restricted",
     [("spec.ephemeralContainers[0].name", 'Invalid value: "%s": must be no more than 63 characters' % ("r" * 64), "")]),
    ("no-name", strategic(reach_container(name=None)), None, None, "restricted",
     [("spec.ephemeralContainers[0].name", "Required value", "")]),
    ("no-image", strategic(reach_container(image=None)), None, None, "restricted",
     [("spec.ephemeralContainers[0].image", "Required value", "")]),
    ("image-whitespace", strategic(reach_container(image="busybox:1.36 ")), None, None, "restricted",
     [("spec.ephemeralContainers[0].image", 'Invalid value: "busybox:1.36 ": must not have leading or trailing '
                                            'whitespace', "")]),
    ("pull-policy", strategic(reach_container(imagePullPolicy="Sometimes")), None, None, "restricted",
     [("spec.ephemeralContainers[0].imagePullPolicy",
       'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"', "")]),
    ("unknown-field", strategic(reach_container(cmd=["ls"])), None, None, "restricted",
     [("spec.ephemeralContainers[0].cmd", 'unknown field "cmd"', "")]),
    ("wrong-type", strategic(reach_container(command="nc -z db 5432")), None, None, "restricted",
     [("spec.ephemeralContainers[0].command",
       'Invalid value: "nc -z db 5432": expected a list of strings, got string', "")]),
    ("nested-wrong-type", strategic(reach_container(securityContext=dict(
        container.RESTRICTED_SECURITY_CONTEXT, capabilities={"drop": "ALL"}))), None, None, "baseline",
     [(SC + ".capabilities.drop", 'Invalid value: "ALL": expected a list of strings, got string', "")]),
    ("env-without-name", strategic(reach_container(env=[{"value": "1"}])), None, None, "restricted",
     [("spec.ephemeralContainers[0].env[0].name", "Required value", "")]),
    ("env-name-with-equals", strategic(reach_container(env=[{"name": "A=B", "value": "1"}])), None, None,
     "restricted",
     [("spec.ephemeralContainers[0].env[0].name", 'Invalid value: "A=B": a valid environment variable name must '
                                                  "consist only of printable ASCII characters other than '='", "")]),
    ("negative-uid", strategic(reach_container(securityContext=dict(container.RESTRICTED_SECURITY_CONTEXT,
                                                                     runAsUser=-1))), None, None, "restricted",
     [(SC + ".runAsUser", "Invalid value: -1: must be between 0 and 2147483647, inclusive", "")]),
    ("duplicate-in-patch", strategic(reach_container(), reach_container()), None, None, "restricted",
     [("spec.ephemeralContainers[1].name", 'Duplicate value: "reach-abcde": a strategic merge patch merges list '
                                           'items of one name, so this one changes the one before it', "")]),
    ("duplicate-in-json-patch", [{"op": "add", "path": "/spec/ephemeralContainers", "value": [reach_container()] * 2}],
     None, None, "restricted",
     [("[0].value[1].name", 'Duplicate value: "reach-abcde"', "spec.ephemeralContainers[1].name")]),
    ("duplicate-of-app-container", strategic(reach_container(name="nginx")), OPEN, None, "baseline",
     [("spec.ephemeralContainers[0].name", 'Duplicate value: "nginx"', "")]),
    ("target-not-found", strategic(reach_container(targetContainerName="app")), OPEN, None, "baseline",
     [("spec.ephemeralContainers[0].targetContainerName", 'Not found: "app"', "")]),
    ("target-found", strategic(reach_container(targetContainerName="nginx")), OPEN, None, "baseline", []),
    ("index-after-existing", strategic(reach_container(ports=[{"containerPort": 80}])), WITH_ONE, None, "baseline",
     [("spec.ephemeralContainers[0].ports", "Forbidden: cannot be set for an Ephemeral Container",
       "spec.ephemeralContainers[1].ports")]),
    ("changes-existing", strategic(reach_container(name="reach-old00", image="busybox:1.37")), WITH_ONE, None,
     "baseline",
     [("spec.ephemeralContainers", 'Forbidden: existing ephemeral containers "reach-old00" may not be changed', "")]),
    ("same-as-existing", strategic(reach_container(name="reach-old00")), WITH_ONE, None, "baseline",
     [("spec.ephemeralContainers", NO_CHANGE, "")]),
    ("ignored-fields", {"metadata": {"labels": {"a": "b"}},
                        "spec": {"initContainers": [], "ephemeralContainers": [reach_container()]}},
     None, None, "restricted",
     [("metadata", "ignored: the ephemeralcontainers subresource takes only spec.ephemeralContainers", ""),
      ("spec.initContainers", "ignored: the ephemeralcontainers subresource takes only spec.ephemeralContainers",
       "")]),
    ("nothing-to-add", {"spec": {}}, None, None, "restricted", [("spec.ephemeralContainers", NO_CHANGE, "")]),
    ("merge-patch-unknown-pod", strategic(reach_container()), None, "merge", "restricted",
     [("spec.ephemeralContainers", "a JSON merge patch replaces the whole list, so it fails on any pod that has an "
                                   "ephemeral container already (existing ephemeral containers ... may not be "
                                   "removed); use a strategic merge patch (kubectl patch --type=strategic)", "")]),
    ("merge-patch-first", strategic(reach_container()), OPEN, "merge", "baseline", []),
    ("merge-patch-restates-existing", strategic(WITH_ONE["spec"]["ephemeralContainers"][0], reach_container()),
     WITH_ONE, "merge", "baseline", []),
    ("merge-patch-changes-existing", strategic(reach_container(name="reach-old00", image="busybox:1.37"),
                                               reach_container()), WITH_ONE, "merge", "baseline",
     [("spec.ephemeralContainers", 'Forbidden: existing ephemeral containers "reach-old00" may not be changed', "")]),
    ("strategic-delete-directive", strategic({"$patch": "delete", "name": "reach-old00"}, reach_container()),
     WITH_ONE, None, "baseline",
     [("spec.ephemeralContainers", 'Forbidden: existing ephemeral containers "reach-old00" may not be removed', "")]),
    ("strategic-null-list", {"spec": {"ephemeralContainers": None}}, WITH_ONE, None, "baseline",
     [("spec.ephemeralContainers", 'Forbidden: existing ephemeral containers "reach-old00" may not be removed', "")]),
    ("json-add-then-edit-it", [{"op": "add", "path": "/spec/ephemeralContainers/-", "value": reach_container()},
                               {"op": "add", "path": "/spec/ephemeralContainers/1/tty", "value": True},
                               {"op": "add", "path": "/spec/ephemeralContainers/1/ports", "value": []}],
     WITH_ONE, None, "baseline",
     [("[0].value.ports", "Forbidden: cannot be set for an Ephemeral Container", "spec.ephemeralContainers[1].ports")]),
    ("json-add-then-remove-it", [{"op": "add", "path": "/spec/ephemeralContainers/-", "value": reach_container()},
                                 {"op": "remove", "path": "/spec/ephemeralContainers/1"}], WITH_ONE, None, "baseline",
     [("[0]", NO_CHANGE, "")]),
    ("merge-patch-removes", strategic(reach_container()), WITH_ONE, "merge", "baseline",
     [("spec.ephemeralContainers", 'Forbidden: existing ephemeral containers "reach-old00" may not be removed', "")]),
    ("json-append", [{"op": "add", "path": "/spec/ephemeralContainers/-", "value": reach_container()}], WITH_ONE,
     None, "baseline", []),
    ("json-append-unknown-pod", [{"op": "add", "path": "/spec/ephemeralContainers/-", "value": reach_container()}],
     None, None, "restricted", []),
    ("json-append-first", [{"op": "add", "path": "/spec/ephemeralContainers/-", "value": reach_container()}], OPEN,
     None, "baseline",
     [("[0].path", "The request is invalid: the server rejected our request due to an error in our request (the pod "
                   "has no ephemeral containers yet, so there is no list to add to: add /spec/ephemeralContainers "
                   "with a one-element list instead)", "")]),
    ("json-add-list-first", [{"op": "add", "path": "/spec/ephemeralContainers", "value": [reach_container()]}], OPEN,
     None, "baseline", []),
    ("json-add-list-removes", [{"op": "add", "path": "/spec/ephemeralContainers", "value": [reach_container()]}],
     WITH_ONE, None, "baseline",
     [("[0]", 'Forbidden: existing ephemeral containers "reach-old00" may not be removed', "spec.ephemeralContainers")]),
    ("json-duplicate", [{"op": "add", "path": "/spec/ephemeralContainers/-",
                         "value": reach_container(name="reach-old00", image="busybox:1.37")}], WITH_ONE, None,
     "baseline",
     [("[0].value.name", 'Duplicate value: "reach-old00"', "spec.ephemeralContainers[1].name"),
      ("[0]", 'Forbidden: existing ephemeral containers "reach-old00" may not be changed', "spec.ephemeralContainers")]),
    ("json-edit-existing", [{"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": "x"}], WITH_ONE,
     None, "baseline",
     [("[0]", 'Forbidden: existing ephemeral containers "reach-old00" may not be changed', "spec.ephemeralContainers")]),
    ("json-other-path", [{"op": "add", "path": "/metadata/labels/a", "value": "b"},
                         {"op": "add", "path": "/spec/ephemeralContainers/-", "value": reach_container()}],
     None, None, "restricted",
     [("[0].path", "ignored: the ephemeralcontainers subresource takes only spec.ephemeralContainers", "")]),
    ("json-forbidden-field", [{"op": "add", "path": "/spec/ephemeralContainers/-",
                               "value": reach_container(ports=[{"containerPort": 80}])}], WITH_ONE, None, "baseline",
     [("[0].value.ports", "Forbidden: cannot be set for an Ephemeral Container", "spec.ephemeralContainers[1].ports")]),
    ("whole-pod", container.replaced_pod(OPEN, reach_container()), None, None, "baseline", []),
    ("whole-pod-changes-existing", _drop_command_of_existing(container.replaced_pod(WITH_ONE, reach_container())),
     WITH_ONE, None,
     "baseline",
     [("spec.ephemeralContainers", 'Forbidden: existing ephemeral containers "reach-old00" may not be changed', "")]),
    ("whole-pod-with-pod-file", container.replaced_pod(WITH_ONE, reach_container()), WITH_ONE, None, "baseline", []),
    ("whole-pod-forbidden", container.replaced_pod(WITH_ONE, reach_container(startupProbe={})), WITH_ONE, None,
     "baseline",
     [("spec.ephemeralContainers[1].startupProbe", "Forbidden: cannot be set for an Ephemeral Container", "")]),
    # PodSecurity
    ("psa-no-security-context", strategic(reach_container(securityContext=None)), None, None, "restricted",
     [(SC, PSA + 'allowPrivilegeEscalation != false (container "reach-abcde" must set '
                 'securityContext.allowPrivilegeEscalation=false)', ""),
      (SC, PSA + 'unrestricted capabilities (container "reach-abcde" must set '
                 'securityContext.capabilities.drop=["ALL"])', ""),
      (SC, PSA + 'runAsNonRoot != true (pod or container "reach-abcde" must set '
                 'securityContext.runAsNonRoot=true)', ""),
      (SC, PSA + 'seccompProfile (pod or container "reach-abcde" must set securityContext.seccompProfile.type to '
                 '"RuntimeDefault" or "Localhost")', "")]),
    ("psa-pod-level-covers", strategic(reach_container(securityContext=None)), RESTRICTED, None, "restricted",
     [(SC, PSA + 'allowPrivilegeEscalation != false (container "reach-abcde" must set '
                 'securityContext.allowPrivilegeEscalation=false)', ""),
      (SC, PSA + 'unrestricted capabilities (container "reach-abcde" must set '
                 'securityContext.capabilities.drop=["ALL"])', "")]),
    ("psa-baseline-passes-plain", strategic(reach_container(securityContext=None)), OPEN, None, "baseline", []),
    ("psa-baseline-privileged", strategic(reach_container(securityContext={"privileged": True,
                                                                           "capabilities": {"add": ["NET_ADMIN"]}})),
     None, None, "baseline",
     [(SC, 'violates PodSecurity "baseline:latest": non-default capabilities (container "reach-abcde" must not '
           'include "NET_ADMIN" in securityContext.capabilities.add)', ""),
      (SC, 'violates PodSecurity "baseline:latest": privileged (container "reach-abcde" must not set '
           'securityContext.privileged=true)', "")]),
    ("psa-privileged-level", strategic(reach_container(securityContext={"privileged": True})), None, None,
     "privileged", []),
    ("psa-root", strategic(reach_container(securityContext=dict(container.RESTRICTED_SECURITY_CONTEXT, runAsUser=0))),
     None, None, "restricted",
     [(SC, PSA + 'runAsUser=0 (container "reach-abcde" must not set runAsUser=0)', "")]),
    ("psa-unconfined", strategic(reach_container(securityContext=dict(container.RESTRICTED_SECURITY_CONTEXT,
                                                                       seccompProfile={"type": "Unconfined"}))),
     None, None, "restricted",
     [(SC, PSA + 'seccompProfile (container "reach-abcde" must not set securityContext.seccompProfile.type to '
                 '"Unconfined")', "")]),
    ("psa-non-root-false", strategic(reach_container(securityContext=dict(container.RESTRICTED_SECURITY_CONTEXT,
                                                                           runAsNonRoot=False))), RESTRICTED, None,
     "restricted",
     [(SC, PSA + 'runAsNonRoot != true (container "reach-abcde" must not set securityContext.runAsNonRoot=false)',
       "")]),
    ("psa-pods-own-containers", strategic(reach_container()), OPEN, None, "restricted",
     [("spec.ephemeralContainers", PSA + 'allowPrivilegeEscalation != false (container "nginx" must set '
                                         'securityContext.allowPrivilegeEscalation=false)', "spec"),
      ("spec.ephemeralContainers", PSA + 'unrestricted capabilities (container "nginx" must set '
                                         'securityContext.capabilities.drop=["ALL"])', "spec"),
      ("spec.ephemeralContainers", PSA + 'runAsNonRoot != true (pod or container "nginx" must set '
                                         'securityContext.runAsNonRoot=true)', "spec"),
      ("spec.ephemeralContainers", PSA + 'seccompProfile (pod or container "nginx" must set '
                                         'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
       "spec")]),
    ("psa-restricted-capabilities-once", strategic(reach_container(securityContext=dict(
        container.RESTRICTED_SECURITY_CONTEXT, capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN", "NET_BIND_SERVICE"]}))),
     None, None, "restricted",
     [(SC, PSA + 'unrestricted capabilities (container "reach-abcde" must not include "SYS_ADMIN" in '
                 'securityContext.capabilities.add)', "")]),
    ("psa-selinux", strategic(
        reach_container(securityContext={"seLinuxOptions": {"type": "foo", "user": "u"}}),
        reach_container(name="reach-fghij", securityContext={"seLinuxOptions": {"type": "bar"}})), None, None,
     "baseline",
     [("spec.ephemeralContainers", 'violates PodSecurity "baseline:latest": seLinuxOptions (containers "reach-abcde", '
                                   '"reach-fghij" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; '
                                   'user may not be set)', "")]),
    ("psa-seccomp-wrong-before-unset", strategic(
        reach_container(securityContext=dict(container.RESTRICTED_SECURITY_CONTEXT, seccompProfile=None)),
        reach_container(name="reach-fghij", securityContext=dict(container.RESTRICTED_SECURITY_CONTEXT,
                                                                 seccompProfile={"type": "Unconfined"}))),
     None, None, "restricted",
     [(SC.replace("[0]", "[1]"), PSA + 'seccompProfile (container "reach-fghij" must not set '
                                       'securityContext.seccompProfile.type to "Unconfined")', "")]),
    ("psa-apparmor", strategic(reach_container(securityContext={"appArmorProfile": {"type": "Unconfined"}})),
     RESTRICTED, None, "baseline",
     [(SC, 'violates PodSecurity "baseline:latest": forbidden AppArmor profile (container "reach-abcde" must not '
           'set AppArmor profile type to "Unconfined")', "")]),
    ("psa-two-containers", strategic(reach_container(securityContext=None),
                                     reach_container(name="reach-fghij", securityContext=None)), RESTRICTED, None,
     "restricted",
     [("spec.ephemeralContainers", PSA + 'allowPrivilegeEscalation != false (containers "reach-abcde", "reach-fghij" '
                                         'must set securityContext.allowPrivilegeEscalation=false)', ""),
      ("spec.ephemeralContainers", PSA + 'unrestricted capabilities (containers "reach-abcde", "reach-fghij" must '
                                         'set securityContext.capabilities.drop=["ALL"])', "")]),
]


@pytest.mark.parametrize("doc,pod,patch_type,level,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lint_table(doc, pod, patch_type, level, expected):
    findings = lint.lint(copy.deepcopy(doc), "patch.json", copy.deepcopy(pod), patch_type, level)
    got = [(f.path, f.message, "" if f.field == f.path else f.field) for f in findings]
    assert got == expected


def test_the_table_is_large_enough_and_names_are_unique():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def recorded_patches():
    with open(os.path.join(FIXTURES, "patches.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if "meta" not in json.loads(line)]


@pytest.mark.parametrize("rec", recorded_patches(), ids=lambda r: "%s-%s-exit%d" % (r["source"], r["type"], r["exit"]))
def test_lint_agrees_with_the_real_api_server(rec):
    """Each recorded patch: lint is clean exactly when kube-apiserver took it, and otherwise
    says what the server said, word for word."""
    ns = rec["pod"]["metadata"]["namespace"]
    level = "restricted" if ns == "restricted" else "privileged"  # the lab's namespaces
    findings = lint.lint(rec["body"], "patch", rec["pod"], rec["type"], level)
    if rec["exit"] == 0 and "(no change)" in rec["stdout"]:
        assert [f.message for f in findings] == [NO_CHANGE]
        return
    if rec["exit"] == 0:
        assert findings == []
        return
    assert findings
    for f in findings:
        if f.rule == "podsecurity":
            said = f.message.split(": ", 1)[1]   # the server joins several checks with ", "
        elif f.field:
            said = "%s: %s" % (f.field, f.message)
        else:
            said = f.message.split(" (the pod has")[0]
        assert said in rec["stderr"], f


def test_every_kind_of_server_answer_is_covered():
    records = recorded_patches()
    answers = " ".join(r["stderr"] for r in records)
    for text in ("Forbidden: cannot be set", "Invalid value", "Duplicate value", "may not be changed",
                 "may not be removed", "violates PodSecurity", "The request is invalid"):
        assert text in answers
    assert any(r["exit"] == 0 for r in records) and any(r["type"] == "json" for r in records)


def test_no_document_makes_lint_crash():
    """Seeded random damage to containers, patches and pods: findings or a usage error, never a
    traceback (a wrong type stops at the structure check, as decoding stops the API server)."""
    import random
    rng = random.Random(7)
    values = [None, 1, -1, "x", "", True, [], {}, ["x"], [1], [None], {"a": 1}, [{}], [{"name": 1}], 1.5,
              {"add": "X"}, {"drop": "ALL", "add": [1]}, {"type": 5}]
    keys = ["name", "image", "command", "env", "volumeMounts", "ports", "resources", "targetContainerName",
            "securityContext", "imagePullPolicy", "foo"]
    security = ["capabilities", "seccompProfile", "seLinuxOptions", "appArmorProfile", "windowsOptions",
                "runAsUser", "runAsNonRoot", "privileged", "allowPrivilegeEscalation", "procMount"]
    outcomes = set()
    for _ in range(1500):
        c = reach_container()
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                c[rng.choice(keys)] = copy.deepcopy(rng.choice(values))
            elif isinstance(c.get("securityContext"), dict):
                c["securityContext"][rng.choice(security)] = copy.deepcopy(rng.choice(values))
        doc, patch_type = rng.choice([
            (strategic(c), None), (strategic(c), "merge"), (container.replaced_pod(OPEN, c), None),
            ([{"op": rng.choice(["add", "replace", "remove", "move", 5]),
               "path": rng.choice(["/spec/ephemeralContainers/-", "/spec/ephemeralContainers", "/x", 5,
                                   "/spec/ephemeralContainers/0", "/spec/ephemeralContainers/0/image"]),
               "value": rng.choice([c, [c], 5, None])}], None),
            ({"spec": {"ephemeralContainers": [5, None, c]}}, None), ({"spec": 5}, None), ([5], None),
            ("text", None), ({"kind": "Deployment"}, None)])
        try:
            findings = lint.lint(doc, "f", copy.deepcopy(rng.choice([None, OPEN, WITH_ONE])), patch_type,
                                 rng.choice(["restricted", "baseline", "privileged"]))
            outcomes.add("findings" if findings else "clean")
        except lint.UsageError:
            outcomes.add("usage")
    assert outcomes == {"findings", "clean", "usage"}
