"""kubectl's stderr, as recorded from a real API server, into errors a person can act on."""
import pytest

from lib import apierrors

DUPLICATE = ('The Pod "web-duplicate-name" is invalid: \n* spec.ephemeralContainers[1].name: Duplicate value: '
             '"reach-hjhc6"\n* spec.ephemeralContainers: Forbidden: existing ephemeral containers "reach-hjhc6" may '
             'not be changed\n@@ -7,7 +7,7 @@\n   "-w",\n')
CHANGED = ('The Pod "web-duplicate-name" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral '
           'containers "reach-hjhc6" may not be changed\n@@ -7,7 +7,7 @@\n')
PORTS = ('The Pod "web-ports-forbidden" is invalid: spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an '
         'Ephemeral Container\n')
REMOVED = ('The Pod "web-jsonpatch-first-add" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral '
           'containers "reach-rj2zl" may not be removed\n\n')
JSONPATCH_422 = "The request is invalid: the server rejected our request due to an error in our request\n"
SECURITY = ('Error from server (Forbidden): pods "web" is forbidden: violates PodSecurity "restricted:latest": '
            'allowPrivilegeEscalation != false (containers "reach-old1", "reach-new" must set '
            'securityContext.allowPrivilegeEscalation=false), runAsNonRoot != true (container "reach-old2" must not '
            'set securityContext.runAsNonRoot=false)\n')


@pytest.mark.parametrize("stderr, step, reason, message", [
    ('Error from server (NotFound): pods "web" not found\n', "get", "PodNotFound",
     'pod "web" not found in namespace "shop"'),
    ('Error from server (NotFound): namespaces "shop" not found\n', "get", "NamespaceNotFound",
     'namespace "shop" not found'),
    ('Error from server (Forbidden): pods "web" is forbidden: User "reader" cannot get resource '
     '"pods/ephemeralcontainers" in API group "" in the namespace "shop"\n', "patch", "Forbidden",
     'forbidden: user "reader" cannot get pods/ephemeralcontainers in namespace "shop"'),
    ('Error from server (Forbidden): pods "web" is forbidden: User "system:serviceaccount:ci:bot" cannot get resource '
     '"pods/log" in API group "" in the namespace "shop"\n', "logs", "Forbidden",
     'forbidden: user "system:serviceaccount:ci:bot" cannot get pods/log in namespace "shop"'),
    ("Error from server (NotFound): the server could not find the requested resource\n", "patch", "Unsupported",
     "this cluster does not serve pods/ephemeralcontainers"),
    (PORTS, "patch", "Invalid", "the API server rejected the ephemeral container: spec.ephemeralContainers[0].ports: "
                                "Forbidden: cannot be set for an Ephemeral Container"),
    (DUPLICATE, "patch", "Invalid", 'the API server rejected the ephemeral container: spec.ephemeralContainers[1].name: '
                                    'Duplicate value: "reach-hjhc6"; spec.ephemeralContainers: Forbidden: existing '
                                    'ephemeral containers "reach-hjhc6" may not be changed'),
    (CHANGED, "patch", "Invalid", 'the API server rejected the ephemeral container: spec.ephemeralContainers: '
                                  'Forbidden: existing ephemeral containers "reach-hjhc6" may not be changed'),
    (REMOVED, "patch", "Invalid", 'the API server rejected the ephemeral container: spec.ephemeralContainers: '
                                  'Forbidden: existing ephemeral containers "reach-rj2zl" may not be removed'),
    (JSONPATCH_422, "patch", "Invalid", "the API server rejected the ephemeral container: the server rejected our "
                                        "request due to an error in our request"),
    ('Error from server (BadRequest): container "reach-x" in pod "web" is waiting to start: ContainerCreating\n',
     "logs", "NotStarted", 'container "reach-x" has not started yet'),
    ("error: container reach-x is not valid for pod web\n", "logs", "NoSuchContainer",
     'pod "web" has no container "reach-x"'),
    ("error: You must be logged in to the server (Unauthorized)\n", "get", "Unauthorized",
     "the API server did not accept your credentials"),
    ('Error from server (InternalError): Internal error occurred: failed calling webhook\n', "patch", "Error",
     "kubectl patch failed: Internal error occurred: failed calling webhook"),
    ('Error from server (Forbidden): admission webhook "policy.example.com" denied the request: no debug containers\n',
     "patch", "AdmissionDenied", 'an admission webhook rejected the ephemeral container: admission webhook '
                                 '"policy.example.com" denied the request: no debug containers'),
])
def test_classify(stderr, step, reason, message):
    err = apierrors.classify(stderr, "web", "shop", step, "reach-x")
    assert err.reason == reason
    assert err.message == message
    assert err.hint and err.stderr == stderr.strip()


def test_forbidden_patch_explains_why_the_api_names_get():
    err = apierrors.classify('Error from server (Forbidden): pods "web" is forbidden: User "reader" cannot get resource '
                             '"pods/ephemeralcontainers" in API group "" in the namespace "shop"', "web", "shop", "patch")
    assert "names get first" in err.hint and "patch on pods/ephemeralcontainers" in err.hint


def test_forbidden_update_with_old_kubectl_names_update():
    err = apierrors.classify('Error from server (Forbidden): pods "web" is forbidden: User "reader" cannot update resource '
                             '"pods/ephemeralcontainers" in API group "" in the namespace "shop"', "web", "shop", "replace")
    assert err.hint == "ask for get and update on pods/ephemeralcontainers (kubectl < 1.32 replaces the list with a PUT)"


def test_unsupported_names_the_kubernetes_version():
    err = apierrors.classify("the server could not find the requested resource", "web", "shop", "patch")
    assert "1.25" in err.hint


def test_pod_security_names_earlier_containers_that_block_every_new_one():
    err = apierrors.classify(SECURITY, "web", "shop", "patch", "reach-new")
    assert err.reason == "PodSecurity"
    assert err.message.startswith('PodSecurity "restricted:latest" of namespace "shop" rejected the ephemeral '
                                  'container: allowPrivilegeEscalation != false')
    assert "non-compliant container(s) reach-old1, reach-old2" in err.hint
    assert apierrors.violating_containers(SECURITY) == ["reach-old1", "reach-new", "reach-old2"]


@pytest.mark.parametrize("stderr, too_old", [
    ('error: invalid subresource value: "ephemeralcontainers". Must be one of [status scale]\n', True),
    ("error: unknown flag: --subresource\n", True),
    ('Error from server (NotFound): pods "web" not found\n', False),
])
def test_client_too_old(stderr, too_old):
    assert apierrors.is_client_too_old(stderr) is too_old


def test_conflict():
    assert apierrors.is_conflict('Error from server (Conflict): Operation cannot be fulfilled on pods "web-conflict": '
                                 'the object has been modified; please apply your changes to the latest version')
    assert not apierrors.is_conflict("Error from server (NotFound): pods \"web\" not found")


def test_first_line_skips_client_go_log_lines():
    text = ('E1122 12:23:19.486229    5601 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API '
            'group list"\nThe connection to the server localhost:8080 was refused - did you specify the right host '
            'or port?\n')
    assert apierrors.first_line(text).startswith("The connection to the server localhost:8080 was refused")
