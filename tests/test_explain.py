"""reach explain and --explain: the Service, endpoint and NetworkPolicy readings, replayed from
the recorded reads of namespace shop (fixtures/explain-*.jsonl, built from explain.jsonl)."""
import json

import pytest

from conftest import fixture_calls
from lib import explain
from lib.targets import parse_dns, parse_target

SHOP = json.loads(fixture_calls("explain-services")[1]["stdout"])["items"]
WEB = json.loads(fixture_calls("explain-services")[0]["stdout"])


def cluster(**changes):
    kinds = {"Pod": [], "Service": [], "EndpointSlice": [], "NetworkPolicy": []}
    for item in SHOP:
        kinds[item["kind"]].append(item)
    base = dict(pods=kinds["Pod"], services=kinds["Service"], slices=kinds["EndpointSlice"],
                policies=kinds["NetworkPolicy"], namespaces={"shop": {"kubernetes.io/metadata.name": "shop",
                                                                      "team": "shop"}})
    base.update(changes)
    return explain.Cluster(**base)


def why(host_port, **changes):
    return explain.explain(WEB, parse_target(host_port), cluster(**changes))


def test_the_recorded_path_web_to_db_is_denied_by_db_ingress():
    e = why("db:5432")
    assert e.lines[:4] == [
        'Service shop/db (ClusterIP 10.96.251.9): port 5432/TCP "pg" -> targetPort pg',
        "1 ready endpoint: db-0 10.244.0.17",
        "egress shop/web -> shop/db-0:5432: allowed by shop/web-to-db",
        "ingress shop/web -> shop/db-0:5432: DENIED: shop/db-from-api selects the pod and no rule allows this"]
    assert e.causes[0] == ("NetworkPolicy ingress of shop/db-0: shop/db-from-api selects it and no rule allows "
                           "shop/web on 5432")
    assert "no egress rule of shop/web allows DNS (UDP 53)" in e.causes
    assert e.document["networkPolicies"][0]["ingress"]["policies"] == ["shop/db-from-api"]


def test_a_dns_verdict_puts_the_dns_cause_first():
    e = explain.explain(WEB, parse_target("db:5432"), cluster(), "dns")
    assert e.causes[0] == "no egress rule of shop/web allows DNS (UDP 53)"


@pytest.mark.parametrize("host_port,line,cause", [
    ("empty:80", "its selector app=nothing matches no pod in namespace shop",
     "the selector of Service shop/empty matches no pod"),
    ("db:80", 'Service shop/db has no port 80 (its ports: 5432/TCP "pg")', "Service shop/db has no port 80"),
    ("nosuch:80", "no Service shop/nosuch: the name does not resolve in the cluster", "no Service shop/nosuch"),
    ("db.shop.svc.cluster.local:80", 'Service shop/db has no port 80 (its ports: 5432/TCP "pg")',
     "Service shop/db has no port 80"),
])
def test_service_readings(host_port, line, cause):
    e = why(host_port)
    assert line in e.lines and cause in e.causes


def test_udp_targets_are_judged_on_udp_ports():
    e = why("udp://db:5432")
    assert e.lines[0] == 'Service shop/db has no port 5432/UDP (its ports: 5432/TCP "pg")'
    assert e.causes[0] == "Service shop/db has no port 5432/UDP"
    headless = why("udp://db-headless:5432")   # every port of the pods; web-to-db allows TCP 5432 only
    assert "egress shop/web -> shop/db-0:5432: DENIED: shop/default-deny-egress, shop/web-to-db select the pod and no " \
           "rule allows this" in headless.lines
    assert "egress shop/web -> shop/db-0:5432: allowed by shop/web-to-db" in why("https://db:5432/").lines


@pytest.mark.parametrize("name,line,cause", [
    ("db", "Service shop/db (ClusterIP 10.96.251.9): the name resolves to its ClusterIP", None),
    ("nosuch", "no Service shop/nosuch: the name does not resolve in the cluster", "no Service shop/nosuch"),
    ("db-headless", "Service shop/db-headless is headless: the name resolves to its ready pods' IPs (none when no pod "
                    "is ready)", None),
    ("ext", "Service shop/ext is an ExternalName: the name is a CNAME to example.com", None),
    ("example.com", "example.com is not a Service name: the cluster DNS forwards it to its upstream resolvers", None),
])
def test_a_name_to_resolve_needs_no_port_walk(name, line, cause):
    e = explain.explain(WEB, parse_dns(name), cluster(), "dns")
    assert e.lines[0] == line and "networkPolicies" not in e.document
    assert e.causes[0] == (cause or "no egress rule of shop/web allows DNS (UDP 53)")
    assert not any(" -> " in text for text in e.lines)


def test_zero_ready_endpoints_is_named_as_the_classic_cause():
    e = why("empty:80")
    assert "no ready endpoint serves port 80/TCP: the classic cause of refused (kube-proxy rejects) or timeout" \
        in e.lines
    assert "Service shop/empty has no ready endpoint for port 80" in e.causes


def test_not_ready_endpoints_are_counted_apart():
    slices = [dict(s, endpoints=[dict(ep, conditions={"ready": False}) for ep in s.get("endpoints") or []])
              for s in cluster().slices]
    e = why("db:5432", slices=slices)
    assert "(1 not ready: db-0)" in " ".join(e.lines)
    assert "Service shop/db has no ready endpoint for port 5432" in e.causes


def test_named_target_port_follows_the_endpointslice_port():
    e = why("db:5432")
    assert e.document["service"]["targetPort"] == "pg"
    assert e.document["networkPolicies"][0]["port"] == 5432


def test_headless_service_reaches_any_port_of_its_pods():
    e = why("db-headless:6000")
    assert "port 6000 is not one of its ports (5432/TCP), but a headless name reaches every port of the pods" \
        in e.lines[0]
    assert e.document["networkPolicies"][0]["egress"]["allowed"] is False   # web-to-db allows pg (5432) only


def test_external_name_service():
    e = why("ext:443")
    assert e.lines[0].startswith("Service shop/ext is an ExternalName: DNS answers with a CNAME to example.com")
    assert e.document["networkPolicies"][0]["destination"]["namespace"] is None


def test_a_cluster_ip_is_its_service_and_a_name_outside_is_not_a_service():
    assert why("10.96.251.9:5432").document["service"]["name"] == "db"
    assert why("example.com:443").document["target"] == {"kind": "name", "namespace": None, "name": "example.com"}
    assert why("db.shop:5432").document["target"]["kind"] == "service"


def test_source_pod_facts():
    host = dict(WEB, spec=dict(WEB["spec"], hostNetwork=True, dnsPolicy="ClusterFirst",
                               containers=WEB["spec"]["containers"] + [{"name": "istio-proxy", "image": "proxy"}]))
    e = explain.explain(host, parse_target("db:5432"), cluster(), "dns")
    text = " ".join(e.lines)
    assert "hostNetwork" in text and "Service names do not resolve" in text and "sidecar (istio-proxy)" in text
    assert e.document["source"] == {"namespace": "shop", "name": "web", "hostNetwork": True,
                                    "dnsPolicy": "ClusterFirst", "sidecar": "istio-proxy"}
    assert e.document["networkPolicies"][0]["egress"]["note"].startswith("the source pod uses the node's network")


def test_unreadable_kinds_are_said_and_left_out():
    e = why("db:5432", services=[], slices=[], policies=[],
            forbidden=(("shop", "services"), ("shop", "endpointslices"), ("shop", "networkpolicies")))
    assert e.causes == [] and e.unknown == ("services", "networkpolicies")
    assert e.lines[0] == "not allowed to read endpointslices, networkpolicies, services: what follows leaves them out"


def test_a_kind_forbidden_elsewhere_does_not_hide_this_namespace():
    e = why("db:5432", forbidden=(("com", "services"), ("", "pods")))
    assert e.unknown == () and e.causes[0].startswith("NetworkPolicy ingress of shop/db-0")


def test_dns_is_no_cause_for_an_address_and_names_ignore_case():
    e = why("10.96.251.9:5432")
    assert not [c for c in e.causes if "DNS" in c] and "(this target is an address: it needs none)" in e.lines[-1]
    assert why("DB.Shop.svc.cluster.local.:5432").document["service"]["name"] == "db"


def test_a_pod_name_under_a_headless_service():
    e = why("db-0.db-headless.shop.svc.cluster.local:5432")
    assert e.document["target"] == {"kind": "service", "namespace": "shop", "name": "db-headless"}
    assert e.document["endpoints"]["ready"] == ["db-0 10.244.0.17"]


def test_an_unknown_address_with_an_ip_block_rule_is_undecided():
    block = {"metadata": {"namespace": "shop", "name": "web-out"},
             "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
                      "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]}}
    e = why("example.com:443", policies=list(cluster().policies) + [block])
    assert not [c for c in e.causes if "example.com" in c] and "address" in e.unknown


# --- the command: replayed reads -------------------------------------------------------------------

def test_explain_reads_with_two_calls_and_adds_nothing(reach):
    r = reach("explain-services")
    assert r.code == 1, r.err
    assert [c["argv"][:2] for c in r.calls] == [["get", "pod"], ["get", "services,endpointslices.discovery.k8s.io,"
                                                                        "networkpolicies.networking.k8s.io,pods"]]
    lines = r.out.splitlines()
    assert lines[0] == "prediction from pod shop/web (read-only: nothing added to the pod, nothing probed)"
    for expected in ("✗ db:5432 blocked: NetworkPolicy ingress of shop/db-0: shop/db-from-api selects it and no rule "
                     "allows shop/web on 5432",
                     "✗ empty:80 blocked: the selector of Service shop/empty matches no pod",
                     "✗ db:80 blocked: Service shop/db has no port 80",
                     "✗ nosuch:80 blocked: no Service shop/nosuch"):
        assert expected in lines
    assert "    Service shop/ext is an ExternalName" in r.out


def test_explain_json(reach):
    r = reach("explain-services", "-o", "json")
    doc = json.loads(r.out)
    assert doc["predicted"] is True and doc["kubectlCalls"] == 2
    by_target = {t["target"]: t for t in doc["targets"]}
    assert by_target["db:5432"]["blocked"] is True
    assert by_target["db-headless:5432"]["explain"]["endpoints"] == {"ready": ["db-0 10.244.0.17"], "notReady": []}
    assert by_target["10.96.251.9:5432"]["explain"]["service"]["name"] == "db"


def test_explain_a_pod_ip(reach):
    r = reach("explain-pod-ip")
    assert r.code == 1 and "    10.244.0.17 is pod shop/db-0 (Ready)" in r.out.splitlines()


def test_explain_a_cluster_ip_from_another_namespace_looks_it_up_cluster_wide(reach):
    r = reach("explain-cluster-ip")
    assert r.code == 1, r.err
    assert ["get", "services", "-A", "--field-selector", "spec.clusterIP=10.96.251.9", "-o", "json"] in \
        [c["argv"] for c in r.calls]
    assert "    egress default/web -> shop/db-0:5432: open (no NetworkPolicy selects the pod for this direction)" \
        in r.out.splitlines()


def test_explain_with_forbidden_kinds_says_it_cannot_tell(reach):
    r = reach("explain-forbidden")
    assert r.code == 4, r.err
    assert "? db:5432 cannot tell: not allowed to read services, networkpolicies" in r.out.splitlines()


def test_namespace_selectors_read_the_namespaces(reach):
    r = reach("explain-namespace-selector")
    assert "    ingress shop/web -> shop/db-0:5432: allowed by shop/db-from-api" in r.out.splitlines()
    assert r.code == 1 and "blocked: no egress rule of shop/web allows DNS (UDP 53)" in r.out


def test_forbidden_namespaces_fall_back_on_the_name_label(reach):
    r = reach("explain-namespaces-forbidden")
    assert "    not allowed to read namespaces: namespaceSelectors that ask for more than a namespace's " \
           "kubernetes.io/metadata.name label cannot be judged" in r.out.splitlines()
    assert "    ingress shop/web -> shop/db-0:5432: DENIED: shop/db-from-api selects the pod and no rule allows this" \
        in r.out.splitlines()
    assert "      (a namespaceSelector may allow it: the namespaces' labels could not be read)" in r.out.splitlines()
    assert "NetworkPolicy ingress" not in r.out.splitlines()[1]     # not a certain cause


def test_damaged_objects_never_crash_an_explanation():
    """Seeded random removal of fields from the recorded objects: sentences, never a traceback."""
    import copy
    import random
    rng = random.Random(3)

    def damage(obj):
        obj = copy.deepcopy(obj)
        node = obj
        for _ in range(rng.randint(1, 3)):
            if not isinstance(node, dict) or not node:
                break
            key = rng.choice(sorted(node))
            if rng.random() < 0.4:
                node[key] = rng.choice([None, {}, [], "", 0])
                break
            node = node[key]
        return obj
    targets = ["db:5432", "empty:80", "db-headless:6000", "ext:443", "10.96.251.9:5432", "example.com:443",
               "db-0.db-headless.shop.svc.cluster.local:5432", "[fd00::1]:80"]
    for _ in range(300):
        items = [damage(o) if rng.random() < 0.3 else o for o in SHOP]
        kinds = {"Pod": [], "Service": [], "EndpointSlice": [], "NetworkPolicy": []}
        for item in items:
            kinds.get(str(item.get("kind")), []).append(item)
        c = explain.Cluster(pods=kinds["Pod"], services=kinds["Service"], slices=kinds["EndpointSlice"],
                            policies=kinds["NetworkPolicy"], namespaces=None, forbidden=(("", "namespaces"),))
        e = explain.explain(damage(WEB) if rng.random() < 0.3 else WEB, parse_target(rng.choice(targets)), c,
                            rng.choice([None, "dns", "refused", "timeout"]))
        assert e.lines
