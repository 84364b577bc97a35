"""What works without a cluster: --print-patch, lint, completion, the single-file build."""
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, fixture_calls, fixture_meta, stub_env
from lib import cli, lint, manifests

REACH = [sys.executable, os.path.join(ROOT, "reach.py")]
GOLDEN = os.path.join(ROOT, "tests", "golden")
NO_KUBECTL = ["--kubectl", "/nonexistent/kubectl"]   # any kubectl call would fail the command


def run(args, stdin=None, env=None, program=REACH):
    return subprocess.run(program + args, input=stdin, capture_output=True, text=True, env=env, timeout=60)


def recorded_pod_file(tmp_path, fixture, name="pod.json"):
    """The pod JSON kube-apiserver returned in a recorded fixture, as a --pod-file."""
    path = tmp_path / name
    path.write_text(fixture_calls(fixture)[0]["stdout"])
    return str(path)


def running_pod_fixtures():
    names = []
    for name in sorted(os.listdir(FIXTURES)):
        if not name.endswith(".jsonl") or name == "patches.jsonl":
            continue
        calls = fixture_calls(name[:-6])
        if calls and calls[0]["argv"][:2] == ["get", "pod"] and calls[0]["exit"] == 0 and \
                json.loads(calls[0]["stdout"]).get("status", {}).get("phase") == "Running":
            names.append(name[:-6])
    return names


# --- --print-patch ---------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["open", "old-kubectl"])
def test_print_patch_is_exactly_the_body_a_run_sends(tmp_path, fixture):
    """Same name (the recorded suffix), same pod: the printed JSON is the recorded request's."""
    meta = fixture_meta(fixture)
    pod_file = recorded_pod_file(tmp_path, fixture)
    env = dict(os.environ, REACH_NAME_SUFFIX=meta["suffix"])
    calls = fixture_calls(fixture)
    # the recorded pod has no ephemeral container: the patch that fits it is the spare, the whole list
    patch = [c for c in calls if c["argv"][0] == "patch"][-1]
    printed = run(meta["args"] + ["--print-patch", "--patch-type", "json", "--pod-file", pod_file] + NO_KUBECTL,
                  env=env)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == json.loads(patch["stdin"])
    assert json.loads(printed.stdout)[1]["path"] == "/spec/ephemeralContainers"
    replace = [c for c in calls if c["argv"][0] == "replace"]
    if replace:
        printed = run(meta["args"] + ["--dry-run=client", "--patch-type", "replace", "--pod-file", pod_file]
                      + NO_KUBECTL, env=env)
        assert printed.returncode == 0, printed.stderr
        assert json.loads(printed.stdout) == json.loads(replace[0]["stdin"])


def test_print_patch_matches_the_golden_files_and_is_stable(tmp_path):
    pod_file = os.path.join(GOLDEN, "pod.json")
    with open(pod_file) as f:
        assert json.load(f) == json.loads(fixture_calls("open")[0]["stdout"]), "golden/pod.json is the recorded pod"
    for golden, extra in (("patch.json", []), ("patch.yaml", ["-o", "yaml"]),
                          ("replace.json", ["--patch-type", "replace"]), ("copy.json", ["--copy-to", "web-reach"])):
        args = ["web-open", "-n", "default", "--to", "db:5432,api.example.com:443", "--name", "reach-golden",
                "--print-patch", "--pod-file", pod_file] + extra + NO_KUBECTL
        first, second = run(args), run(args)
        assert first.returncode == 0, first.stderr
        assert first.stdout == second.stdout
        with open(os.path.join(GOLDEN, golden)) as f:
            assert first.stdout == f.read(), "tests/golden/%s is out of date" % golden


@pytest.mark.parametrize("fixture", running_pod_fixtures())
def test_whatever_print_patch_prints_lint_passes(tmp_path, fixture):
    """In-process (hundreds of runs): every recorded running pod, every way to shape the patch."""
    pod_file = recorded_pod_file(tmp_path, fixture)
    with open(pod_file) as f:
        pod = json.load(f)
    for extra in ([], ["--patch-type", "replace"], ["--target", pod["spec"]["containers"][0]["name"]],
                  ["--image", "nicolaka/netshoot:v0.13", "--image-pull-policy", "Always", "-o", "yaml"],
                  ["--timeout", "1m", "--to", "a.example.com:1,b.example.com:65535"]):
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["--to", "db:5432,[fd00::1]:443", "--print-patch", "--pod-file", pod_file] + extra
                        + NO_KUBECTL, out=out, err=err, env={})
        assert code == 0, err.getvalue()
        (doc,) = manifests.parse(out.getvalue(), "printed")
        # PodSecurity judges the whole pod: the lab's pods pass their own namespace's level
        # (restricted in "restricted", none elsewhere); reach's container passes restricted anywhere.
        own_level = "restricted" if pod["metadata"]["namespace"] == "restricted" else "baseline"
        assert lint.lint(doc, "printed", pod, None, own_level) == [], extra
        if "--patch-type" not in extra:
            assert lint.lint(doc, "printed", None, None, "restricted") == [], extra


def test_print_patch_without_any_pod_needs_no_cluster():
    printed = run(["--to", "db:5432", "--print-patch", "--name", "reach-x"] + NO_KUBECTL)
    assert printed.returncode == 0, printed.stderr
    (c,) = json.loads(printed.stdout)["spec"]["ephemeralContainers"]
    assert c["name"] == "reach-x" and c["command"][-2:] == ["db", "5432"]
    random_name = run(["--to", "db:5432", "--print-patch"] + NO_KUBECTL)
    assert json.loads(random_name.stdout)["spec"]["ephemeralContainers"][0]["name"].startswith("reach-")


def test_print_patch_with_a_pod_name_reads_the_pod_and_changes_nothing(reach):
    r = reach("open", "--print-patch", "--patch-type", "json", allow_unused=True)
    assert r.code == 0, r.err
    assert [c["argv"][:2] for c in r.calls] == [["get", "pod"]]      # no patch, no watch, no logs
    patch = [c for c in fixture_calls("open") if c["argv"][0] == "patch"][-1]
    assert json.loads(r.out) == json.loads(patch["stdin"])


def test_print_patch_with_a_pod_name_reports_kubectl_errors(reach):
    r = reach("not-found-pod", "--print-patch", allow_unused=True)
    assert r.code == 3 and 'pod "nope" not found in namespace "default"' in r.err
    assert [c["argv"][0] for c in r.calls] == ["get"]   # a run's patch ahead is not sent: nothing is


@pytest.mark.parametrize("args,says", [
    (["--dry-run=server"], "--dry-run=server is not supported"),
    (["--patch-type", "replace"], "--patch-type replace prints the whole pod, so it needs the pod"),
    (["--name", "Reach"], "is not a valid container name"),
    (["--name", "nginx", "--pod-file", "POD"], 'already has a container named nginx'),
    (["other", "--pod-file", "POD"], "POD is other but --pod-file holds pod web-open"),
    (["--pod-file", "/nonexistent.json"], "cannot read /nonexistent.json"),
])
def test_print_patch_usage_errors(tmp_path, args, says):
    pod_file = recorded_pod_file(tmp_path, "open")
    args = [pod_file if a == "POD" else a for a in args]
    r = run(["--to", "db:5432", "--print-patch"] + args + NO_KUBECTL)
    assert r.returncode == 2 and says in r.stderr and r.stdout == ""


def test_bare_dry_run_takes_no_word_and_pod_slash_name_works(tmp_path):
    pod_file = recorded_pod_file(tmp_path, "open")
    for args in (["--dry-run", "web-open"], ["pod/web-open", "--dry-run=client"], ["pods/web-open", "--print-patch"]):
        r = run(args + ["--to", "db:5432", "--name", "reach-x", "--pod-file", pod_file] + NO_KUBECTL)
        assert r.returncode == 0, (args, r.stderr)
    r = run(["deploy/web", "--to", "db:5432", "--print-patch"] + NO_KUBECTL)
    assert r.returncode == 2 and "give a pod name, or pod/NAME" in r.stderr


@pytest.mark.parametrize("image", ["", " busybox", "busybox:1.36 "])
def test_an_image_with_spaces_is_a_usage_error(image):
    r = run(["web", "--to", "db:5432", "--image", image, "--print-patch"] + NO_KUBECTL)
    assert r.returncode == 2 and "--image" in r.stderr


@pytest.mark.parametrize("flag", [["--name", "reach-x"], ["--pod-file", "pod.json"], ["--patch-type", "replace"]])
def test_print_patch_flags_need_print_patch(flag):
    r = run(["web", "--to", "db:5432"] + flag + NO_KUBECTL)
    assert r.returncode == 2 and "goes with --print-patch" in r.stderr


def test_print_patch_checks_the_target_against_the_pod(tmp_path):
    r = run(["--to", "db:5432", "--print-patch", "--target", "app", "--pod-file",
             recorded_pod_file(tmp_path, "open")] + NO_KUBECTL)
    assert r.returncode == 2 and 'has no container "app"' in r.stderr and "--target takes one of: nginx" in r.stderr


# --- lint ------------------------------------------------------------------------------------

def test_lint_exit_codes_and_outputs(tmp_path):
    good = os.path.join(GOLDEN, "patch.json")
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec:\n  ephemeralContainers:\n  - name: x\n    image: busybox\n    ports: [{containerPort: 80}]\n"
                   "---\n- op: add\n  path: /metadata/labels/a\n  value: b\n")
    assert run(["lint", good]).returncode == 0
    text = run(["lint", good, str(bad), "--level", "privileged"])
    assert text.returncode == 1
    assert text.stdout.splitlines() == [
        "%s (document 1): spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container" % bad,
        "%s (document 2): [0].path: ignored: the ephemeralcontainers subresource takes only spec.ephemeralContainers"
        % bad,
        '%s (document 2): (document): adds no ephemeral container: the API server takes it and changes nothing '
        '(kubectl prints "patched (no change)")' % bad]
    assert "3 findings in 2 files (schema of Kubernetes v1.36.0, PodSecurity privileged)" in text.stderr
    as_json = json.loads(run(["lint", str(bad), "-o", "json", "--level", "privileged"]).stdout)
    assert as_json["kubernetes"] == "v1.36.0" and as_json["level"] == "privileged"
    assert as_json["findings"][0] == {
        "file": "%s (document 1)" % bad, "path": "spec.ephemeralContainers[0].ports",
        "field": "spec.ephemeralContainers[0].ports", "message": "Forbidden: cannot be set for an Ephemeral Container",
        "rule": "api", "error": "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container"}


@pytest.mark.parametrize("content,says", [
    ("{not json: [", "is neither JSON nor YAML"),
    ('{"kind": "Deployment", "metadata": {}}', "is a Deployment, not a pod or a patch"),
    ('"text"', "expected a patch object"),
    ("", "holds no document"),
])
def test_lint_unreadable_input_exits_2(tmp_path, content, says):
    path = tmp_path / "in.json"
    path.write_text(content)
    r = run(["lint", str(path)])
    assert r.returncode == 2 and says in r.stderr
    assert run(["lint", "-"], stdin=content).returncode == 2


def test_lint_missing_file_exits_2(tmp_path):
    r = run(["lint", "/nonexistent/patch.json"])
    assert r.returncode == 2 and "cannot read /nonexistent/patch.json" in r.stderr
    r = run(["lint", str(tmp_path)])
    assert r.returncode == 2 and "it is a directory" in r.stderr
    r = run(["lint", "-", "--pod-file", "-"], stdin="{}")
    assert r.returncode == 2 and "standard input can be read once" in r.stderr


def test_lint_reads_yaml_dates_as_strings_as_kubectl_does(tmp_path):
    pod_yaml = tmp_path / "pod.yaml"
    pod = json.loads(fixture_calls("open")[0]["stdout"])
    import yaml
    pod_yaml.write_text(yaml.safe_dump(pod).replace("'2026-11-22T11:18:28Z'", "2026-11-22T11:18:28Z"))
    patch = tmp_path / "patch.yaml"
    patch.write_text(run(["--to", "db:5432", "--print-patch", "--name", "reach-x", "-o", "yaml"] + NO_KUBECTL).stdout
                     .replace("name: reach-x", "name: reach-x\n    env: [{name: SINCE, value: 2024-01-01}]"))
    r = run(["lint", str(patch), "--pod-file", str(pod_yaml), "--level", "baseline"])
    assert (r.returncode, r.stdout) == (0, ""), r.stdout + r.stderr
    r = run(["--to", "db:5432", "--print-patch", "--patch-type", "replace", "--pod-file", str(pod_yaml)] + NO_KUBECTL)
    assert r.returncode == 0 and json.loads(r.stdout)["metadata"]["creationTimestamp"] == "2026-11-22T11:18:28Z"


# --- completion ------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture,out", [("complete-pods", "web\n:4\n"), ("complete-namespaces", "default\n:4\n")])
def test_completion_of_pods_and_namespaces_through_kubectl(reach, fixture, out):
    r = reach(fixture)
    assert (r.code, r.out) == (0, out)


@pytest.mark.parametrize("namespace", [["-n=default"], ["-ndefault"], ["--namespace=default"], ["--namespace", "default"]])
def test_completion_reads_the_namespace_however_it_is_spelled(reach, namespace):
    r = reach("complete-pods", args=["__complete"] + namespace + ["w"])
    assert (r.code, r.out) == (0, "web\n:4\n")


@pytest.mark.parametrize("words,out", [
    (["-o", ""], "text\njson\nyaml\n:4\n"),
    (["web", "--image-pull-policy", "N"], "Never\n:4\n"),
    (["--pod-f"], "--pod-file\n:4\n"),
    (["--pod-file", ""], ":0\n"),            # the shell completes file names
    (["web", ""], ":4\n"),                   # the pod is given: flags only
    (["lint", "--level", "b"], "baseline\n:4\n"),
    (["lint", ""], ":0\n"),
    (["--namespace=", "-o=j"], "json\n:4\n"),
    (["lint", "--level=r"], "restricted\n:4\n"),
])
def test_completion_without_kubectl_calls(words, out):
    r = run(["__complete"] + words, env=dict(os.environ, KUBECTL="/nonexistent/kubectl"))
    assert (r.returncode, r.stdout) == (0, out)


def test_the_helper_name_means_completion_even_for_lint(tmp_path):
    helper = tmp_path / "kubectl_complete-reach"
    helper.symlink_to(os.path.join(ROOT, "reach.py"))
    r = run(["lint", "--level", ""], program=[sys.executable, str(helper)])
    assert (r.returncode, r.stdout) == (0, "privileged\nbaseline\nrestricted\n:4\n")


@pytest.mark.skipif(not shutil.which("kubectl"), reason="needs the real kubectl")
def test_real_kubectl_completes_through_the_plugin_helper(tmp_path, stub_bin):
    """kubectl >= 1.26 runs kubectl_complete-reach; it lists pods with the stub (via $KUBECTL)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for name in ("kubectl-reach", "kubectl_complete-reach"):
        (plugins / name).write_text("#!%s\nimport sys\nsys.path.insert(0, %r)\nfrom lib.cli import main\n"
                                    "sys.exit(main())\n" % (sys.executable, ROOT))
        (plugins / name).chmod(0o755)
    env = stub_env(tmp_path, "complete-pods", None, bindir=stub_bin)
    # Only the plugins made here and kubectl itself: an installed kubectl-reach would be overshadowed.
    env.update(PATH="%s:%s:/usr/bin:/bin" % (plugins, os.path.dirname(shutil.which("kubectl"))),
               KUBECTL=os.path.join(stub_bin, "kubectl"))
    r = subprocess.run(["kubectl", "__complete", "reach", "-n", "default", "w"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.stdout.splitlines()[:2] == ["web", ":4"], r.stderr
    listed = subprocess.run(["kubectl", "plugin", "list"], capture_output=True, text=True, env=env)
    assert str(plugins / "kubectl-reach") in listed.stdout.splitlines()
    assert str(plugins / "kubectl_complete-reach") not in listed.stdout  # a helper, not a plugin
    assert "warning" not in (listed.stdout + listed.stderr).lower()


# --- the single file -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def single_file(tmp_path_factory):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import build_dist
    path, _ = build_dist.build(str(tmp_path_factory.mktemp("dist") / "kubectl-reach"))
    return path


def test_single_file_runs_in_an_isolated_interpreter(single_file, tmp_path):
    isolated = [sys.executable, "-I", "-S", single_file]
    helped = run(["--help"], program=isolated)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: kubectl reach POD")
    printed = run(["--to", "db:5432", "--print-patch", "--name", "reach-x", "--pod-file",
                   recorded_pod_file(tmp_path, "open")] + NO_KUBECTL, program=isolated)
    assert printed.returncode == 0, printed.stderr
    linted = run(["lint", "-", "-o", "json"], stdin=printed.stdout, program=isolated)
    assert linted.returncode == 0 and json.loads(linted.stdout)["findings"] == []
    yaml_lint = run(["lint", os.path.join(GOLDEN, "patch.yaml")], program=isolated)   # pure-Python yaml inside
    assert yaml_lint.returncode == 0, yaml_lint.stderr
    demo = run(["--demo"], program=isolated)
    assert demo.returncode == 2 and "which only a checkout has" in demo.stderr


def test_single_file_replays_a_probe_run(reach, single_file):
    r = reach("open", program=[sys.executable, "-I", "-S", single_file])
    assert r.code == 0 and "127.0.0.1:18080 open" in r.out


def test_single_file_is_reproducible_and_holds_no_extensions(single_file, tmp_path):
    import zipfile
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import build_dist
    again, _ = build_dist.build(str(tmp_path / "again"))
    with open(single_file, "rb") as a, open(again, "rb") as b:
        assert a.read() == b.read()
    with zipfile.ZipFile(single_file) as z:
        names = z.namelist()
    assert "__main__.py" in names and "sh.py" in names and "yaml/__init__.py" in names
    assert "kubectl_reach/data/ephemeralcontainer.json" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".pyc"))]


def test_krew_manifest_names_the_archive_make_dist_builds(single_file):
    import hashlib
    import re
    import tarfile

    import yaml
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import build_dist
    archive = build_dist.krew_archive(single_file)
    with open(build_dist.krew_manifest(archive, "1.2.3")) as f:
        manifest = yaml.safe_load(f)
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2" and manifest["kind"] == "Plugin"
    assert manifest["metadata"]["name"] == "reach" and manifest["spec"]["version"] == "v1.2.3"
    (platform,) = manifest["spec"]["platforms"]
    with open(archive, "rb") as f:
        assert platform["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert re.match(r"https://.+/v1\.2\.3/kubectl-reach\.tar\.gz$", platform["uri"])
    with tarfile.open(archive) as tar:
        member = tar.getmember(platform["bin"])
        assert member.mode & 0o111 and tar.extractfile(member).read(2) == b"#!"
    assert {"linux", "darwin"} <= set(platform["selector"]["matchExpressions"][0]["values"])


def test_the_readme_examples_that_need_no_cluster_run():
    """Every `python reach.py ...` line of the README that names no cluster runs as shown."""
    import re
    import shlex
    with open(os.path.join(ROOT, "README.md")) as f:
        blocks = "\n".join(re.findall(r"^```sh\n(.*?)^```", f.read(), re.M | re.S))
    lines = [m.group(1) for m in re.finditer(r"^(python reach\.py [^#\n]*?)\s*(?:#.*)?$", blocks, re.M)]
    offline = [line for line in lines if any(w in line for w in ("--demo", "--pod-file", " lint ", "--print-patch"))]
    assert len(offline) >= 4, offline
    for line in offline:
        argv = shlex.split(line)[2:]
        r = run(argv, env=dict(os.environ, REACH_STUB_SPEED="0"))   # demos without their recorded pauses
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, (line, r.stderr)


@pytest.mark.parametrize("form", ["swagger-v2", "openapi-v3", "json-schema"])
def test_make_schema_refreshes_the_definitions_from_any_published_form(tmp_path, form):
    """The kept definitions, dressed as each form a Kubernetes spec file comes in, come back unchanged."""
    with open(os.path.join(ROOT, "lib", "data", "ephemeralcontainer.json")) as f:
        kept = json.load(f)

    def dress(node, ref_prefix):
        """One schema node in the chosen form, with a description the refresh must drop."""
        out = dict(node, description="dropped on the way")
        if "$ref" in out:
            out["$ref"] = ref_prefix + out["$ref"].rsplit("/", 1)[1]
        for key in ("items", "additionalProperties"):
            if isinstance(out.get(key), dict):
                out[key] = dress(out[key], ref_prefix)
        if "properties" in out:
            out["properties"] = {k: dress(v, ref_prefix) for k, v in out["properties"].items()}
        if form == "json-schema" and out.get("format") == "int-or-string":
            return {"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]}
        if form == "json-schema" and out.get("type") not in (None, "object"):
            out["type"] = [out["type"], "null"]
        return out
    defs = {name: dress(d, {"swagger-v2": "#/definitions/", "openapi-v3": "#/components/schemas/",
                            "json-schema": "#/$defs/"}[form]) for name, d in kept["definitions"].items()}
    defs["io.k8s.api.apps.v1.Deployment"] = {"type": "object"}   # not reachable from the root: left out
    spec = {"swagger-v2": {"definitions": defs}, "openapi-v3": {"components": {"schemas": defs}},
            "json-schema": {"$defs": defs}}[form]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "out.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "refresh_schema.py"), str(tmp_path / "spec.json"),
                        "v9.99.0", "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    refreshed = json.loads(out.read_text())
    assert refreshed["kubernetes"] == "v9.99.0" and refreshed["definitions"] == kept["definitions"]


def test_bypass_mesh_in_the_printed_patch_still_lints_restricted():
    printed = run(["--to", "db:5432", "--print-patch", "--name", "reach-x", "--bypass-mesh"] + NO_KUBECTL)
    (c,) = json.loads(printed.stdout)["spec"]["ephemeralContainers"]
    assert c["securityContext"]["runAsUser"] == 1337
    assert lint.lint(json.loads(printed.stdout), "p", None, None, "restricted") == []


@pytest.mark.parametrize("pod,sidecar", [
    ({"spec": {"containers": [{"name": "app"}, {"name": "linkerd-proxy"}]}}, "linkerd-proxy"),
    ({"spec": {"initContainers": [{"name": "istio-proxy", "restartPolicy": "Always"}]}}, "istio-proxy"),
    ({"metadata": {"annotations": {"sidecar.istio.io/status": "{}"}}, "spec": {}}, "istio-proxy"),
    ({"spec": {"containers": [{"name": "app"}]}}, ""),
])
def test_sidecars_are_found_by_container_or_annotation(pod, sidecar):
    from lib import pods
    assert pods.sidecar_of(pod) == sidecar
