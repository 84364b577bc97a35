"""Fan-out: sources, plan files, expectations, reports (JUnit, TAP), and replayed runs."""
import json
import xml.etree.ElementTree as ET

import pytest

from conftest import fixture_calls
from lib import fleet, fleetreport, plan, probe, sources
from lib.errors import ReachError, UsageError
from lib.probe import Verdict
from lib.report import Style
from lib.sources import Skipped
from lib.targets import parse_dns, parse_target

POD = json.loads(fixture_calls("open")[0]["stdout"])   # a real pod: web-open, Running, app=web


def pod(name, phase="Running", owner=None, ns="default"):
    p = json.loads(json.dumps(POD))
    p["metadata"].update(name=name, namespace=ns)
    p["status"]["phase"] = phase
    if owner:
        p["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "controller": True}]
    return p


# --- sources ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("web", sources.Source(pod="web")),
    ("pod/web", sources.Source(pod="web")),
    ("deploy/web", sources.Source(workload="deployment/web")),
    ("sts/db", sources.Source(workload="statefulset/db")),
    ("ds/agent", sources.Source(workload="daemonset/agent")),
    ("rs/web-7c9f6", sources.Source(workload="replicaset/web-7c9f6")),
    ("job/migrate", sources.Source(workload="job/migrate")),
    ("Deployment/web", sources.Source(workload="deployment/web")),
])
def test_sources_as_kubectl_names_them(text, expected):
    assert sources.parse_ref(text) == expected


@pytest.mark.parametrize("text", ["svc/web", "deploy/", "cronjob/x"])
def test_sources_that_are_not_pods_or_workloads(text):
    with pytest.raises(UsageError):
        sources.parse_ref(text)


def test_a_workload_selector_as_kubectl_takes_it():
    assert sources.selector_text({"matchLabels": {"app": "web", "tier": "fe"}, "matchExpressions": [
        {"key": "env", "operator": "In", "values": ["prod", "dev"]}, {"key": "canary", "operator": "DoesNotExist"},
        {"key": "zone", "operator": "NotIn", "values": ["a"]}, {"key": "team", "operator": "Exists"}]}) == \
        "app=web,tier=fe,env in (dev,prod),!canary,zone notin (a),team"


def test_pods_that_cannot_run_are_skipped_with_the_reason_and_one_per_workload():
    found = [pod("web-b", owner="rs1"), pod("web-a", owner="rs1"), pod("web-c", "Pending", owner="rs1"),
             pod("other", owner="rs2"), pod("lone")]
    runnable, skipped = sources.split(found, one=False)
    assert [p["metadata"]["name"] for p in runnable] == ["lone", "other", "web-a", "web-b"]
    assert skipped == [Skipped("default", "web-c", "Pending, not Running: its containers have not started yet")]
    one, _ = sources.split(found, one=True)
    assert [p["metadata"]["name"] for p in one] == ["lone", "other", "web-a"]


# --- plan files ------------------------------------------------------------------------------------

def test_a_plan_file():
    checks = plan.parse({"checks": [
        {"from": {"selector": "app=web", "namespace": "shop"}, "to": ["db:5432", "db:5432", "api:443"]},
        {"from": "deploy/web", "to": "cache:6379", "expect": "closed", "timeout": "2s", "image": "busybox:1.37"}]},
        "p.yaml")
    assert checks[0].source == sources.Source(selector="app=web", namespace="shop")
    assert [str(t) for t in checks[0].targets] == ["db:5432", "api:443"] and checks[0].expect == "open"
    assert checks[1].source.workload == "deployment/web" and checks[1].timeout == 2.0
    assert plan.parse([{"from": {"pod": "web"}, "to": "a:1"}], "p.json")[0].source.pod == "web"


def test_a_plan_file_with_every_kind_of_target():
    (check,) = plan.parse([{"from": "web", "to": ["udp://kube-dns.kube-system:53", "https://api/healthz", "dns://db"],
                            "dns": ["db", "api.example.com"]}], "p.yaml")
    assert [str(t) for t in check.targets] == ["udp://kube-dns.kube-system:53", "https://api/healthz", "dns://db",
                                               "dns://api.example.com"]
    assert [str(t) for t in plan.parse([{"from": "web", "dns": "db"}], "p.yaml")[0].targets] == ["dns://db"]


@pytest.mark.parametrize("doc,message", [
    ({"checks": []}, "p.yaml: expected a list of checks"),
    ({"check": []}, "p.yaml: unknown key check"),
    ([{"from": "web"}], "p.yaml: checks[0].to: required"),
    ([{"to": "a:1"}], "p.yaml: checks[0].from: required"),
    ([{"from": "web", "to": "a:1"}, {"from": "web", "to": ["a:1", "b"]}], "p.yaml: checks[1].to[1]: invalid target"),
    ([{"from": "web", "to": "a:1", "expect": "shut"}], "p.yaml: checks[0].expect: 'shut' is not one of open, closed"),
    ([{"from": "web", "to": "a:1", "timeout": "soon"}], "p.yaml: checks[0].timeout:"),
    ([{"from": {"pod": "a", "selector": "b=c"}, "to": "a:1"}],
     "p.yaml: checks[0].from: give exactly one of pod, workload, selector"),
    ([{"from": {"workload": "web"}, "to": "a:1"}], "p.yaml: checks[0].from.workload: expected KIND/NAME"),
    ([{"from": {"pods": "web"}, "to": "a:1"}], "p.yaml: checks[0].from.pods: unknown field"),
    ([{"from": "web", "to": "a:1", "image": " busybox"}], "p.yaml: checks[0].image: expected an image reference"),
    ([{"from": "web", "too": "a:1"}], "p.yaml: checks[0].too: unknown field"),
    ([{"from": "web", "to": ["http://web/a b"]}], "p.yaml: checks[0].to[0]: invalid target 'http://web/a b': the path"),
    ([{"from": "web", "dns": ["db", "10.0.0.1"]}], "p.yaml: checks[0].dns[1]: invalid name '10.0.0.1': 10.0.0.1 is an "
                                                  "address, not a name to resolve"),
    ([{"from": "web", "dns": {"name": "db"}}], "p.yaml: checks[0].dns: expected a name or a list of names"),
])
def test_plan_errors_name_the_file_the_check_and_the_field(doc, message):
    with pytest.raises(UsageError) as e:
        plan.parse(doc, "p.yaml")
    assert e.value.message.startswith(message), e.value.message


# --- expectations and jobs ---------------------------------------------------------------------------

@pytest.mark.parametrize("outcome,expect,dns_closed,passed", [
    ("open", "open", False, True), ("refused", "open", False, False), ("dns", "open", True, False),
    ("refused", "closed", False, True), ("timeout", "closed", False, True), ("unreachable", "closed", False, True),
    ("open", "closed", False, False), ("dns", "closed", False, False), ("dns", "closed", True, True),
    ("error", "closed", True, False), ("error", "open", False, False),
])
def test_expectations(outcome, expect, dns_closed, passed):
    assert fleet.met(outcome, expect, dns_closed) is passed


@pytest.mark.parametrize("outcome,expect,passed", [
    ("dns", "closed", True), ("open", "closed", False), ("open", "open", True), ("dns", "open", False)])
def test_a_name_that_does_not_resolve_is_what_closed_means_for_dns(outcome, expect, passed):
    assert fleet.verdict_met(Verdict(parse_dns("db"), outcome, "", ""), expect) is passed
    assert fleet.verdict_met(Verdict(parse_target("https://web/"), "tls", "", ""), "closed") is False   # it answered


def test_a_pod_in_several_checks_gets_one_job_with_all_its_targets():
    a, b = parse_target("a:1"), parse_target("b:2")
    jobs = fleet.jobs([([pod("p1"), pod("p2")], [a], "open", "busybox:1.36", 3.0, "app=web"),
                       ([pod("p1")], [b, a], "open", "busybox:1.36", 5.0, None)])
    assert [(j.key, [str(t) for t in j.targets], j.timeout, j.selector) for j in jobs] == [
        ("default/p1", ["a:1", "b:2"], 5.0, None), ("default/p2", ["a:1"], 3.0, "app=web")]
    with pytest.raises(UsageError, match="expected both open and closed"):
        fleet.jobs([([pod("p1")], [a], "open", "i", 3.0, None), ([pod("p1")], [a], "closed", "i", 3.0, None)])
    with pytest.raises(UsageError, match="two images"):
        fleet.jobs([([pod("p1")], [a], "open", "i1", 3.0, None), ([pod("p1")], [b], "open", "i2", 3.0, None)])


def outcome(name, *verdicts, expect="open", error=None):
    targets = [parse_target(t) for t, _ in verdicts]
    vs = [Verdict(t, o, "", o, "nc", 0 if o == "open" else 1) for t, (_, o) in zip(targets, verdicts)]
    return fleet.PodOutcome("default", name, "reach-x" if not error else "", [] if error else vs,
                            {t: expect for t in targets}, error)


def test_exit_codes_of_a_fan_out():
    ok = outcome("p1", ("a:1", "open"))
    bad = outcome("p2", ("a:1", "timeout"))
    forbidden = outcome("p3", ("a:1", "open"), error=ReachError("forbidden"))
    assert fleet.exit_code([ok], [], False) == 0
    assert fleet.exit_code([ok, bad], [], False) == 1
    assert fleet.exit_code([ok, forbidden], [], False) == 3      # a partial failure is not success
    assert fleet.exit_code([bad, forbidden], [], False) == 1
    assert fleet.exit_code([], [Skipped("default", "p", "Pending")], False) == 3
    assert fleet.exit_code([outcome("p4", ("a:1", "dns"), expect="closed")], [], True) == 0


# --- reports -----------------------------------------------------------------------------------------

def sample_rows():
    skipped = [(Skipped("default", "p9", "Pending, not Running"), {parse_target("a:1"): "open"})]
    outs = [outcome("p1", ("a:1", "open"), ("b:2", "timeout")), outcome("p2", ("a:1", "open"), ("b:2", "open")),
            outcome("p3", ("a:1", "open"), error=ReachError("forbidden", "ask for patch"))]
    return fleetreport.rows(outs, skipped, False)


def test_junit_parses_back_with_consistent_counts():
    root = ET.fromstring(fleetreport.junit(sample_rows(), 1.5))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("6", "1", "1",
                                                                                                        "1")
    assert int(suite.get("tests")) == len(cases) and root.get("tests") == "6"
    failure = cases[1].find("failure")
    assert cases[1].get("classname") == "default/p1" and failure.get("message") == "timeout (expected open)"
    assert cases[4].find("error").get("message") == "forbidden; ask for patch"
    assert cases[5].find("skipped").get("message") == "Pending, not Running"
    for case in cases:
        assert case.get("name") and case.get("classname") and len(list(case)) <= 1


def test_tap_version_14():
    text = fleetreport.tap(sample_rows())
    lines = text.splitlines()
    assert lines[:2] == ["TAP version 14", "1..6"]
    points = [line for line in lines if line.startswith(("ok ", "not ok "))]
    assert [int(line.split(" - ")[0].split()[-1]) for line in points] == list(range(1, 7))
    assert "not ok 2 - default/p1 b:2 timeout" in lines
    block = lines[lines.index("not ok 2 - default/p1 b:2 timeout") + 1:][:5]
    assert block == ["  ---", '  verdict: "timeout"', '  expected: "open"', '  message: "timeout"', "  ..."]
    assert lines[-1] == "ok 6 - default/p9 a:1 skipped # SKIP Pending, not Running"


def test_text_lines_and_matrix():
    plain = Style(color=False, unicode=True)
    lines = fleetreport.lines(sample_rows(), plain)
    assert lines[1] == "✗ default/p1 b:2 timeout (expected open; timeout)"
    assert lines[4] == "? default/p3 a:1 error: forbidden; ask for patch"
    matrix = fleetreport.matrix(sample_rows(), plain)
    assert matrix[0].split() == ["a:1", "b:2"]
    assert matrix[1].split() == ["default/p1", "✓", "open", "✗", "timeout"]
    assert matrix[4].split() == ["default/p9", "-", "skipped"]
    assert fleetreport.summary(sample_rows()) == "4 pods (1 skipped), 5 checks: 3 passed, 1 failed, 1 could not run"


# --- replayed runs ---------------------------------------------------------------------------------

def test_a_selector_runs_from_every_running_pod_and_lists_the_others(reach):
    r = reach("fleet-selector")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        "✓ default/web-open 127.0.0.1:18080 open",
        "- default/web-pod-pending 127.0.0.1:18080 skipped: Pending, not Running: it is not scheduled to a node yet",
        "2 pods (1 skipped), 1 check: 1 passed, 0 failed"]
    assert [c["argv"][0] for c in r.calls].count("patch") == 1


def test_a_workload_whose_pods_cannot_run(reach):
    r = reach("fleet-workload-pending", "-o", "json")
    assert r.code == 3, r.err
    doc = json.loads(r.out)
    assert doc["exitCode"] == 3 and [x["status"] for x in doc["results"]] == ["skipped"]
    assert [c["argv"][:3] for c in r.calls] == [["get", "deployment", "web"], ["get", "pods", "-l"]]


def test_reports_survive_control_characters_and_escape_tap():
    rows = [fleetreport.Row("default", "p1", "a:1", fleetreport.FAIL, "timeout", "open", "nc: \x1b[31mtimed out#1\\", "c")]
    root = ET.fromstring(fleetreport.junit(rows, 0.1))
    assert root.find("testsuite/testcase/failure").text == "nc: ?[31mtimed out#1\\"
    assert "skipped" not in root.attrib
    assert "not ok 1 - default/p1 a:1 timeout" in fleetreport.tap(rows)
    skip = [fleetreport.Row("default", "p2", "a:1", fleetreport.SKIP, "", "open", "why #1 \\ no", "")]
    assert fleetreport.tap(skip).splitlines()[-1] == "ok 1 - default/p2 a:1 skipped # SKIP why \\#1 \\\\ no"


def test_an_undecided_verdict_in_a_fan_out_exits_4_as_for_one_pod():
    assert fleet.exit_code([outcome("p1", ("a:1", "error"))], [], False) == 4
    assert fleet.exit_code([outcome("p1", ("a:1", "error"), ("b:2", "refused"))], [], False) == 1
    rows = fleetreport.rows([outcome("p1", ("a:1", "error"))], [], False)
    assert rows[0].status == fleetreport.ERROR


def test_udp_silence_passes_open_and_is_inconclusive_for_closed():
    """No ICMP port-unreachable and no answer: open, or filtered. A NetworkPolicy that drops the datagram
    looks the same as a port that takes it, so `closed` can be neither met nor failed by it (exit 4)."""
    udp = parse_target("udp://kube-dns.kube-system:53")
    silent = Verdict(udp, "open", probe.UDP_OPEN, "", "nc-u", 0)
    answered = Verdict(udp, "open", "a datagram came back: something listens there", "datagram sent", "bash", 0)
    refused = Verdict(udp, "refused", "ICMP port unreachable came back", "", "nc-u", 1)

    def run(v, expect):
        return fleet.PodOutcome("default", "p1", "reach-x", [v], {udp: expect})
    assert silent.udp_silence and not answered.udp_silence and not refused.udp_silence
    assert fleet.exit_code([run(silent, "open")], [], False) == 0
    assert fleet.exit_code([run(silent, "closed")], [], False) == 4
    assert fleet.exit_code([run(silent, "closed"), run(refused, "open")], [], False) == 1   # a failure still shows
    assert fleet.exit_code([run(answered, "closed")], [], False) == 1
    assert fleet.exit_code([run(refused, "closed")], [], False) == 0
    (row,) = fleetreport.rows([run(silent, "closed")], [], False)
    assert (row.status, row.outcome) == (fleetreport.ERROR, "open") and row.message.startswith(
        "inconclusive for --expect closed: UDP silence is open or filtered")
    assert [r.status for r in fleetreport.rows([run(silent, "open")], [], False)] == [fleetreport.PASS]


def test_plan_all_namespaces_is_a_boolean():
    with pytest.raises(UsageError, match="allNamespaces: expected true or false"):
        plan.parse([{"from": {"selector": "a=b", "allNamespaces": "false"}, "to": "a:1"}], "p.yaml")


@pytest.mark.parametrize("args,says", [
    (["-l", "app=web", "--to", "a:1", "--tap", "-o", "json"], "--tap prints TAP instead of -o json"),
    (["web", "-A", "--to", "a:1", "--junit", "r.xml"], "-A goes with -l SELECTOR"),
    (["web", "--to", "a:1", "--one"], "--one goes with many pods"),
    (["web", "--to", "a:1", "--parallel", "3"], "--parallel goes with many pods"),
    (["-l", "app=web", "--to", "a:1", "--junit", "/nonexistent/dir/r.xml"], "cannot write /nonexistent/dir/r.xml"),
    (["-l", "app=web", "--to", "a:1", "--parallel", "0"], "expected a whole number of 1 or more"),
])
def test_fan_out_usage_errors_before_anything_runs(args, says):
    import subprocess
    import sys

    from conftest import ROOT
    r = subprocess.run([sys.executable, ROOT + "/reach.py"] + args + ["--kubectl", "/nonexistent/kubectl"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and says in r.stderr, r.stderr


def test_a_plan_file_holds_one_document(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT
    path = tmp_path / "plan.yaml"
    path.write_text("- {from: web, to: a:1}\n---\n- {from: api, to: b:2}\n")
    r = subprocess.run([sys.executable, ROOT + "/reach.py", "-f", str(path), "--kubectl", "/nonexistent/kubectl"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "one plan per file (it holds 2 YAML documents)" in r.stderr
