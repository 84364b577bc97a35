"""lib/netpol.py against a table of NetworkPolicy cases, one rule of the semantics at a time.

The policies, pods and namespaces of namespace `shop` are those a real API server returned
(the `explain` recording: `kubectl get ...networkpolicies,pods -n shop -o json` and
`kubectl get namespaces -o json`); the other cases are variants of them.
"""
from typing import Any, Dict, NamedTuple, Optional, Tuple

import pytest

from lib import netpol
from lib.netpol import Endpoint

# --- recorded objects (verbatim: metadata.namespace/name and spec) -------------------------------------------------

DB_FROM_API = {"metadata": {"namespace": "shop", "name": "db-from-api"},
               "spec": {"ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "api"}}}],
                                     "ports": [{"port": 5432, "protocol": "TCP"}]}],
                        "podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}}
DEFAULT_DENY_EGRESS = {"metadata": {"namespace": "shop", "name": "default-deny-egress"},
                       "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"]}}
WEB_TO_DB = {"metadata": {"namespace": "shop", "name": "web-to-db"},
             "spec": {"egress": [{"ports": [{"port": "pg", "protocol": "TCP"}],
                                  "to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
                      "podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"]}}
RECORDED = [DB_FROM_API, DEFAULT_DENY_EGRESS, WEB_TO_DB]   # in the order the API server listed them

NAMESPACES = {
    "default": {"kubernetes.io/metadata.name": "default"},
    "kube-node-lease": {"kubernetes.io/metadata.name": "kube-node-lease"},
    "kube-public": {"kubernetes.io/metadata.name": "kube-public"},
    "kube-system": {"kubernetes.io/metadata.name": "kube-system"},
    "restricted": {"kubernetes.io/metadata.name": "restricted", "pod-security.kubernetes.io/enforce": "restricted",
                   "pod-security.kubernetes.io/enforce-version": "latest"},
    "shop": {"kubernetes.io/metadata.name": "shop", "team": "shop"},
}

# The recorded pods: labels and container ports as recorded; db-0's address is its EndpointSlice's.
WEB = Endpoint("shop", {"app": "web"}, "10.244.0.15", ({"containerPort": 80, "name": "http", "protocol": "TCP"},),
               name="web")
API = Endpoint("shop", {"app": "api"}, "10.244.0.16", ({"containerPort": 8080, "name": "http", "protocol": "TCP"},),
               name="api")
DB = Endpoint("shop", {"app": "db"}, "10.244.0.17", ({"containerPort": 5432, "name": "pg", "protocol": "TCP"},),
              name="db-0")

# Variants.
WEB_HOST = WEB._replace(host_network=True, ip="192.168.49.2")
API_DEFAULT = Endpoint("default", {"app": "api"}, "10.244.1.5", name="api")            # same labels, other namespace
WORKER_DEFAULT = Endpoint("default", {"app": "worker"}, "10.244.1.6", name="worker")
BATCH = Endpoint("shop", {"role": "batch"}, "10.244.0.20", name="batch")               # no app label
TIERED = Endpoint("shop", {"app": "cache", "tier": "backend"}, "10.244.0.21", name="cache")
DNS_UDP_POD = Endpoint("shop", {"app": "resolver"}, "10.244.0.22",
                       ({"containerPort": 5353, "name": "dns", "protocol": "UDP"},), name="resolver")
EXTERNAL = Endpoint(None, {}, "192.0.2.10", name="example.com")
CLIENT = Endpoint(None, {}, "203.0.113.9", name="client")


def policy(name, spec, namespace="shop"):
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec}


def app(value):
    return {"matchLabels": {"app": value}}


def db_ingress(name, *rules, types=("Ingress",)):
    spec: Dict[str, Any] = {"podSelector": app("db"), "ingress": list(rules)}
    if types is not None:
        spec["policyTypes"] = list(types)
    return policy(name, spec)


def web_egress(name, *rules):
    return policy(name, {"podSelector": app("web"), "egress": list(rules), "policyTypes": ["Egress"]})


# --- expected sides --------------------------------------------------------------------------------------------------

class Want(NamedTuple):
    isolated: bool
    allowed: bool
    policies: Tuple[str, ...]
    allowing: Tuple[str, ...]
    note: Optional[str] = None   # a fragment of the note; None: no note


OPEN = Want(False, True, (), ())


def allow(*allowing, isolating=None):
    """Isolated and allowed by `allowing`; `isolating` lists every policy selecting the pod (default: the same)."""
    return Want(True, True, tuple(isolating or allowing), tuple(allowing))


def deny(*policies):
    return Want(True, False, tuple(policies), ())


def unenforced(fragment):
    return Want(False, True, (), (), fragment)


OUTSIDE = unenforced("outside the cluster")
HOST = unenforced("hostNetwork")

DENY_EGRESS, TO_DB, FROM_API = "shop/default-deny-egress", "shop/web-to-db", "shop/db-from-api"

CASES = [
    # -- the recorded objects, verbatim ---------------------------------------------------------------------------
    pytest.param(RECORDED, WEB, DB, 5432, "TCP", False, allow(TO_DB, isolating=(DENY_EGRESS, TO_DB)), deny(FROM_API),
                 id="recorded-web-to-db-egress-ok-ingress-denied"),
    pytest.param(RECORDED, API, DB, 5432, "TCP", True, OPEN, allow(FROM_API), id="recorded-api-to-db"),
    pytest.param(RECORDED, WEB, DB, 5433, "TCP", False, deny(DENY_EGRESS, TO_DB), deny(FROM_API),
                 id="recorded-web-to-db-other-port"),
    pytest.param(RECORDED, API, DB, 5432, "UDP", False, OPEN, deny(FROM_API), id="recorded-api-to-db-udp"),
    pytest.param(RECORDED, WEB, API, 8080, "TCP", False, deny(DENY_EGRESS, TO_DB), OPEN, id="recorded-web-to-api"),
    pytest.param(RECORDED, API, WEB, 80, "TCP", True, OPEN, OPEN, id="recorded-api-to-web-egress-types-only"),
    pytest.param(RECORDED, DB, API, 8080, "TCP", True, OPEN, OPEN, id="recorded-db-to-api-ingress-type-only"),
    pytest.param(RECORDED, WEB, EXTERNAL, 443, "TCP", False, deny(DENY_EGRESS, TO_DB), OUTSIDE,
                 id="recorded-web-to-external"),
    pytest.param(RECORDED, WEB_HOST, DB, 5432, "TCP", False, HOST, deny(FROM_API), id="hostnetwork-web-to-db"),
    # a hostNetwork pod's packets come from its node's address: pod selectors do not match it, an ipBlock may
    pytest.param(RECORDED, WEB_HOST._replace(labels={"app": "api"}), DB, 5432, "TCP", False, HOST, deny(FROM_API),
                 id="hostnetwork-source-is-not-matched-by-pod-selectors"),
    pytest.param([db_ingress("from-nodes", {"from": [{"ipBlock": {"cidr": "192.168.49.0/24"}}]})], WEB_HOST, DB, 5432,
                 "TCP", True, HOST, allow("shop/from-nodes"), id="hostnetwork-source-matched-by-ip-block"),
    pytest.param(RECORDED, API_DEFAULT, DB, 5432, "TCP", False, OPEN, deny(FROM_API),
                 id="podselector-only-means-policy-namespace"),

    # -- no policy, policyTypes -------------------------------------------------------------------------------------
    pytest.param([], WEB, DB, 5432, "TCP", True, OPEN, OPEN, id="no-policy-open"),
    pytest.param([policy("db-closed", {"podSelector": app("db")})], API, DB, 5432, "TCP", False, OPEN,
                 deny("shop/db-closed"), id="default-types-ingress-no-rules-denies"),
    pytest.param([policy("web-rules", {"podSelector": app("web"), "egress": [{"to": [{"podSelector": app("db")}]}]})],
                 WEB, DB, 5432, "TCP", True, allow("shop/web-rules"), OPEN, id="default-types-egress-rules-allow"),
    pytest.param([policy("web-rules", {"podSelector": app("web"), "egress": [{"to": [{"podSelector": app("db")}]}]})],
                 WEB, API, 8080, "TCP", False, deny("shop/web-rules"), OPEN, id="default-types-egress-rules-isolate"),
    pytest.param([policy("web-rules", {"podSelector": app("web"), "egress": [{"to": [{"podSelector": app("db")}]}]})],
                 API, WEB, 80, "TCP", False, OPEN, deny("shop/web-rules"), id="default-types-always-ingress"),
    pytest.param([policy("web-in", {"podSelector": app("web"), "ingress": [{}]})], WEB, API, 8080, "TCP", True,
                 OPEN, OPEN, id="default-types-no-egress-rules-egress-open"),
    pytest.param([policy("web-in", {"podSelector": app("web"), "ingress": [{}]})], API, WEB, 80, "TCP", True,
                 OPEN, allow("shop/web-in"), id="default-types-ingress-rule-allows"),
    pytest.param([policy("web-empty-egress", {"podSelector": app("web"), "egress": []})], WEB, API, 8080, "TCP", True,
                 OPEN, OPEN, id="default-types-empty-egress-list-is-ingress-only"),
    pytest.param([policy("db-out", {"podSelector": app("db"), "policyTypes": ["Egress"], "ingress": []})],
                 API, DB, 5432, "TCP", True, OPEN, OPEN, id="explicit-egress-type-ignores-ingress"),
    pytest.param([policy("web-in-only", {"podSelector": app("web"), "policyTypes": ["Ingress"],
                                         "egress": [{"to": [{"podSelector": app("nothing")}]}]})],
                 WEB, API, 8080, "TCP", True, OPEN, OPEN, id="explicit-ingress-type-ignores-egress-rules"),
    pytest.param([policy("deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})], API, DB, 5432, "TCP",
                 False, deny("shop/deny-all"), deny("shop/deny-all"), id="explicit-both-types-empty-selector-all-pods"),

    # -- which pods a policy selects, additivity ----------------------------------------------------------------------
    pytest.param([policy("all-in", {"podSelector": {}, "policyTypes": ["Ingress"]})], API, WEB, 80, "TCP", False,
                 OPEN, deny("shop/all-in"), id="empty-podselector-selects-every-pod"),
    pytest.param([policy("deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, namespace="default")],
                 API, DB, 5432, "TCP", True, OPEN, OPEN, id="policy-in-other-namespace-does-not-select"),
    pytest.param([db_ingress("from-web", {"from": [{"podSelector": app("web")}]}), DB_FROM_API], API, DB, 5432, "TCP",
                 True, OPEN, allow(FROM_API, isolating=("shop/from-web", FROM_API)), id="additive-second-policy-allows"),
    pytest.param([db_ingress("from-web", {"from": [{"podSelector": app("web")}]}), DB_FROM_API], WEB, DB, 5432, "TCP",
                 True, OPEN, allow("shop/from-web", isolating=("shop/from-web", FROM_API)),
                 id="additive-first-policy-allows"),
    pytest.param([db_ingress("any-api", {"from": [{"podSelector": app("api")}]}), DB_FROM_API], API, DB, 5432, "TCP",
                 True, OPEN, allow("shop/any-api", FROM_API), id="additive-both-allow"),
    pytest.param([db_ingress("from-web", {"from": [{"podSelector": app("web")}]}), DB_FROM_API], BATCH, DB, 5432,
                 "TCP", False, OPEN, deny("shop/from-web", FROM_API), id="additive-none-allows"),

    # -- peers ----------------------------------------------------------------------------------------------------------
    pytest.param([db_ingress("pg-from-all", {"ports": [{"port": 5432}]})], CLIENT, DB, 5432, "TCP", True, OPEN,
                 allow("shop/pg-from-all"), id="no-from-means-every-source-even-external"),
    pytest.param([db_ingress("pg-from-all", {"from": [], "ports": [{"port": 5432}]})], WORKER_DEFAULT, DB, 5432, "TCP",
                 True, OPEN, allow("shop/pg-from-all"), id="empty-from-means-every-source"),
    pytest.param([web_egress("https-anywhere", {"ports": [{"port": 443}]})], WEB, EXTERNAL, 443, "TCP", True,
                 allow("shop/https-anywhere"), OUTSIDE, id="no-to-means-every-destination"),
    pytest.param([db_ingress("api-any-port", {"from": [{"podSelector": app("api")}]})], API, DB, 9999, "TCP", True,
                 OPEN, allow("shop/api-any-port"), id="no-ports-means-every-port"),
    pytest.param([db_ingress("api-any-port", {"from": [{"podSelector": app("api")}], "ports": []})], API, DB, 53, "UDP",
                 True, OPEN, allow("shop/api-any-port"), id="empty-ports-means-every-port-and-protocol"),
    pytest.param([db_ingress("from-default", {"from": [{"namespaceSelector": {
                     "matchLabels": {"kubernetes.io/metadata.name": "default"}}}]})],
                 WORKER_DEFAULT, DB, 5432, "TCP", True, OPEN, allow("shop/from-default"),
                 id="namespaceselector-only-every-pod-of-namespace"),
    pytest.param([db_ingress("from-default", {"from": [{"namespaceSelector": {
                     "matchLabels": {"kubernetes.io/metadata.name": "default"}}}]})],
                 API, DB, 5432, "TCP", False, OPEN, deny("shop/from-default"),
                 id="namespaceselector-only-not-own-namespace"),
    pytest.param([db_ingress("from-any-ns", {"from": [{"namespaceSelector": {}}]})], WORKER_DEFAULT, DB, 5432, "TCP",
                 True, OPEN, allow("shop/from-any-ns"), id="empty-namespaceselector-every-namespace"),
    pytest.param([db_ingress("and", {"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}},
                                              "podSelector": app("api")}]})],
                 API, DB, 5432, "TCP", True, OPEN, allow("shop/and"), id="ns-and-pod-in-one-peer-both-match"),
    pytest.param([db_ingress("and", {"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}},
                                              "podSelector": app("api")}]})],
                 API_DEFAULT, DB, 5432, "TCP", False, OPEN, deny("shop/and"), id="ns-and-pod-in-one-peer-only-pod-matches"),
    pytest.param([db_ingress("and", {"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}},
                                              "podSelector": app("api")}]})],
                 WEB, DB, 5432, "TCP", False, OPEN, deny("shop/and"), id="ns-and-pod-in-one-peer-only-ns-matches"),
    pytest.param([db_ingress("or", {"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}}},
                                             {"podSelector": app("api")}]})],
                 WEB, DB, 5432, "TCP", True, OPEN, allow("shop/or"), id="ns-or-pod-in-two-peers-ns-matches"),
    pytest.param([db_ingress("or", {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                                                     "default"}}},
                                             {"podSelector": app("api")}]})],
                 API, DB, 5432, "TCP", True, OPEN, allow("shop/or"), id="ns-or-pod-in-two-peers-pod-matches"),
    pytest.param([db_ingress("or", {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                                                     "default"}}},
                                             {"podSelector": app("api")}]})],
                 WEB, DB, 5432, "TCP", False, OPEN, deny("shop/or"), id="ns-or-pod-in-two-peers-neither"),

    # -- matchExpressions -------------------------------------------------------------------------------------------
    pytest.param([db_ingress("in", {"from": [{"podSelector": {"matchExpressions": [
                     {"key": "app", "operator": "In", "values": ["api", "web"]}]}}]})],
                 WEB, DB, 5432, "TCP", True, OPEN, allow("shop/in"), id="expr-in-matches"),
    pytest.param([db_ingress("in", {"from": [{"podSelector": {"matchExpressions": [
                     {"key": "app", "operator": "In", "values": ["api", "web"]}]}}]})],
                 BATCH, DB, 5432, "TCP", False, OPEN, deny("shop/in"), id="expr-in-label-absent"),
    pytest.param([db_ingress("notin", {"from": [{"podSelector": {"matchExpressions": [
                     {"key": "app", "operator": "NotIn", "values": ["web"]}]}}]})],
                 WEB, DB, 5432, "TCP", False, OPEN, deny("shop/notin"), id="expr-notin-excludes"),
    pytest.param([db_ingress("notin", {"from": [{"podSelector": {"matchExpressions": [
                     {"key": "app", "operator": "NotIn", "values": ["web"]}]}}]})],
                 BATCH, DB, 5432, "TCP", True, OPEN, allow("shop/notin"), id="expr-notin-label-absent-matches"),
    pytest.param([db_ingress("exists", {"from": [{"podSelector": {"matchExpressions": [
                     {"key": "tier", "operator": "Exists"}]}}]})],
                 TIERED, DB, 5432, "TCP", True, OPEN, allow("shop/exists"), id="expr-exists"),
    pytest.param([db_ingress("exists", {"from": [{"podSelector": {"matchExpressions": [
                     {"key": "tier", "operator": "Exists"}]}}]})],
                 API, DB, 5432, "TCP", False, OPEN, deny("shop/exists"), id="expr-exists-absent"),
    pytest.param([db_ingress("unlabelled", {"from": [{"podSelector": {"matchExpressions": [
                     {"key": "app", "operator": "DoesNotExist"}]}}]})],
                 BATCH, DB, 5432, "TCP", True, OPEN, allow("shop/unlabelled"), id="expr-doesnotexist"),
    pytest.param([db_ingress("unlabelled", {"from": [{"podSelector": {"matchExpressions": [
                     {"key": "app", "operator": "DoesNotExist"}]}}]})],
                 API, DB, 5432, "TCP", False, OPEN, deny("shop/unlabelled"), id="expr-doesnotexist-present"),

    # -- ipBlock, destinations outside the cluster ----------------------------------------------------------------------
    pytest.param([web_egress("to-net", {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]})], WEB, EXTERNAL, 443, "TCP",
                 True, allow("shop/to-net"), OUTSIDE, id="ipblock-cidr-matches-external"),
    pytest.param([web_egress("to-net", {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}]})], WEB, EXTERNAL, 443,
                 "TCP", False, deny("shop/to-net"), OUTSIDE, id="ipblock-cidr-does-not-match"),
    pytest.param([web_egress("to-net", {"to": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.8/29"]}}]})],
                 WEB, EXTERNAL, 443, "TCP", False, deny("shop/to-net"), OUTSIDE, id="ipblock-except-excludes"),
    pytest.param([web_egress("to-net", {"to": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}]})],
                 WEB, EXTERNAL, 443, "TCP", True, allow("shop/to-net"), OUTSIDE, id="ipblock-except-elsewhere"),
    pytest.param([web_egress("to-pods", {"to": [{"podSelector": {}}, {"namespaceSelector": {}}]})], WEB, EXTERNAL, 443,
                 "TCP", False, deny("shop/to-pods"), OUTSIDE, id="pod-selectors-never-match-outside"),
    pytest.param([db_ingress("from-net", {"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]})], CLIENT, DB, 5432, "TCP",
                 True, OPEN, allow("shop/from-net"), id="ipblock-ingress-from-external"),
    pytest.param([db_ingress("from-pods", {"from": [{"namespaceSelector": {}}]})], CLIENT, DB, 5432, "TCP",
                 False, OPEN, deny("shop/from-pods"), id="namespaceselector-never-matches-external-source"),

    # -- ports ----------------------------------------------------------------------------------------------------------
    pytest.param([db_ingress("named", {"from": [{"podSelector": app("api")}], "ports": [{"port": "pg"}]})],
                 API, DB, 5432, "TCP", True, OPEN, allow("shop/named"), id="named-port-ingress-resolved-on-destination"),
    pytest.param([db_ingress("named", {"from": [{"podSelector": app("api")}], "ports": [{"port": "http"}]})],
                 API, DB, 8080, "TCP", False, OPEN, deny("shop/named"), id="named-port-not-resolved-on-source"),
    pytest.param([DEFAULT_DENY_EGRESS, web_egress("named", {"ports": [{"port": "postgres"}]})], WEB, DB, 5432, "TCP",
                 False, deny(DENY_EGRESS, "shop/named"), OPEN, id="named-port-no-such-name"),
    pytest.param([web_egress("named", {"ports": [{"port": "pg", "protocol": "UDP"}]})], WEB, DB, 5432, "UDP",
                 False, deny("shop/named"), OPEN, id="named-port-protocol-mismatch"),
    pytest.param([web_egress("named", {"ports": [{"port": "dns", "protocol": "UDP"}]})], WEB, DNS_UDP_POD, 5353, "UDP",
                 True, allow("shop/named"), OPEN, id="named-port-udp"),
    pytest.param([web_egress("named", {"ports": [{"port": "pg"}]})], WEB, EXTERNAL, 5432, "TCP",
                 False, deny("shop/named"), OUTSIDE, id="named-port-external-destination-has-none"),
    pytest.param([db_ingress("range", {"ports": [{"port": 5000, "endPort": 6000}]})], API, DB, 5432, "TCP", True, OPEN,
                 allow("shop/range"), id="endport-inside"),
    pytest.param([db_ingress("range", {"ports": [{"port": 5000, "endPort": 6000}]})], API, DB, 5000, "TCP", True, OPEN,
                 allow("shop/range"), id="endport-lower-bound"),
    pytest.param([db_ingress("range", {"ports": [{"port": 5000, "endPort": 6000}]})], API, DB, 6000, "TCP", True, OPEN,
                 allow("shop/range"), id="endport-upper-bound"),
    pytest.param([db_ingress("range", {"ports": [{"port": 5000, "endPort": 6000}]})], API, DB, 6001, "TCP", False, OPEN,
                 deny("shop/range"), id="endport-above"),
    pytest.param([db_ingress("range", {"ports": [{"port": 5000, "endPort": 6000}]})], API, DB, 4999, "TCP", False, OPEN,
                 deny("shop/range"), id="endport-below"),
    pytest.param([db_ingress("p53", {"ports": [{"port": 53}]})], API, DB, 53, "TCP", True, OPEN, allow("shop/p53"),
                 id="protocol-defaults-to-tcp"),
    pytest.param([db_ingress("p53", {"ports": [{"port": 53}]})], API, DB, 53, "UDP", False, OPEN, deny("shop/p53"),
                 id="protocol-default-tcp-rejects-udp"),
    pytest.param([db_ingress("p53", {"ports": [{"port": 53, "protocol": "UDP"}]})], API, DB, 53, "UDP", True, OPEN,
                 allow("shop/p53"), id="protocol-udp-rule-udp-traffic"),
    pytest.param([db_ingress("p53", {"ports": [{"port": 53, "protocol": "UDP"}]})], API, DB, 53, "TCP", False, OPEN,
                 deny("shop/p53"), id="protocol-udp-rule-tcp-traffic"),
    pytest.param([db_ingress("udp-any", {"ports": [{"protocol": "UDP"}]})], API, DB, 12345, "UDP", True, OPEN,
                 allow("shop/udp-any"), id="protocol-without-port-every-port"),
]


def check_side(side, want, what):
    assert (side.isolated, side.allowed, side.policies, side.allowing) == want[:4], what
    if want.note is None:
        assert side.note == "", what
    else:
        assert want.note in side.note, what


@pytest.mark.parametrize("policies,src,dst,port,protocol,allowed,egress,ingress", CASES)
def test_evaluate(policies, src, dst, port, protocol, allowed, egress, ingress):
    decision = netpol.evaluate(src, dst, port, protocol, policies, NAMESPACES)
    check_side(decision.egress, egress, "egress")
    check_side(decision.ingress, ingress, "ingress")
    assert decision.allowed is allowed


@pytest.mark.parametrize("policies,pod,port", [
    pytest.param([policy("deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})], DB, 5432,
                 id="pod-cannot-block-access-to-itself"),
])
def test_pod_to_itself(policies, pod, port):
    assert netpol.evaluate(pod, pod, port, "TCP", policies, NAMESPACES).allowed is True


def test_table_size():
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)


# --- DNS -------------------------------------------------------------------------------------------------------------

TO_KUBE_SYSTEM = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}


@pytest.mark.parametrize("policies,want", [
    pytest.param(RECORDED, deny(DENY_EGRESS, TO_DB), id="recorded-web-has-no-dns"),
    pytest.param([], OPEN, id="no-policy"),
    pytest.param([policy("deny-all-egress", {"podSelector": {}, "policyTypes": ["Egress"]})],
                 deny("shop/deny-all-egress"), id="default-deny"),
    pytest.param(RECORDED + [web_egress("dns", {"to": [TO_KUBE_SYSTEM], "ports": [{"port": 53, "protocol": "UDP"}]})],
                 allow("shop/dns", isolating=(DENY_EGRESS, TO_DB, "shop/dns")), id="udp-53-to-kube-system"),
    pytest.param([DEFAULT_DENY_EGRESS, web_egress("dns", {"to": [TO_KUBE_SYSTEM], "ports": [{"port": 53}]})],
                 deny(DENY_EGRESS, "shop/dns"), id="tcp-only-53"),
    pytest.param([DEFAULT_DENY_EGRESS, web_egress("dns", {"to": [{"namespaceSelector": {
                     "matchLabels": {"kubernetes.io/metadata.name": "default"}}}],
                     "ports": [{"port": 53, "protocol": "UDP"}]})],
                 deny(DENY_EGRESS, "shop/dns"), id="udp-53-to-wrong-namespace"),
    pytest.param([DEFAULT_DENY_EGRESS, web_egress("dns", {"to": [{"namespaceSelector": {}, "podSelector": {
                     "matchLabels": {"k8s-app": "kube-dns"}}}], "ports": [{"port": "dns", "protocol": "UDP"}]})],
                 allow("shop/dns", isolating=(DENY_EGRESS, "shop/dns")), id="named-dns-port-to-kube-dns-pods"),
])
def test_dns_egress(policies, want):
    check_side(netpol.dns_egress(WEB, policies, NAMESPACES), want, "dns")


def test_dns_egress_host_network_not_enforced():
    check_side(netpol.dns_egress(WEB_HOST, RECORDED, NAMESPACES), HOST, "dns")


# --- matches, policy_types -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector,labels,expected", [
    ({}, {}, True),
    ({}, {"app": "web"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "front"}, True),
    ({"matchLabels": {"app": "web", "tier": "back"}}, {"app": "web", "tier": "front"}, False),
    ({"matchLabels": {"app": "web"}}, {}, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}, {"app": "api"}, True),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, {}, False),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {}, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {"app": "web"}, False),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": ""}, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"app": ""}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"app": "web"}, False),
])
def test_matches(selector, labels, expected):
    assert netpol.matches(selector, labels) is expected


@pytest.mark.parametrize("spec,expected", [
    pytest.param(DB_FROM_API["spec"], ["Ingress"], id="recorded-ingress"),
    pytest.param(DEFAULT_DENY_EGRESS["spec"], ["Egress"], id="recorded-egress-no-rules"),
    pytest.param(WEB_TO_DB["spec"], ["Egress"], id="recorded-egress"),
    pytest.param({"podSelector": {}}, ["Ingress"], id="default-ingress"),
    pytest.param({"podSelector": {}, "ingress": [{}]}, ["Ingress"], id="default-with-ingress-rules"),
    pytest.param({"podSelector": {}, "egress": [{}]}, ["Ingress", "Egress"], id="default-with-egress-rules"),
    pytest.param({"podSelector": {}, "policyTypes": [], "egress": [{}]}, ["Ingress", "Egress"], id="empty-types-defaulted"),
    pytest.param({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, ["Ingress", "Egress"], id="explicit-both"),
    pytest.param({"podSelector": {}, "egress": []}, ["Ingress"], id="empty-egress-list"),
])
def test_policy_types(spec, expected):
    assert netpol.policy_types({"metadata": {"namespace": "shop", "name": "p"}, "spec": spec}) == expected
