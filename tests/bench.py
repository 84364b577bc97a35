#!/usr/bin/env python3
"""make bench: how fast reach reaches a verdict, and with how many kubectl processes.

    python tests/bench.py [--runs 7]
    python tests/bench.py --fleet [--runs 3]
    python tests/bench.py --kubeconfig K --pod P -n NS --to HOST:PORT [--reference "kubectl debug ..."]

Without a cluster it measures, each figure the median of --runs:
- CLI start: `reach.py --help` against a bare `python -c pass`;
- time-to-verdict on the simulated cluster (tests/sim/kubectl) with costs taken from the real
  recordings (a kubectl process ~50 ms before its first request, ~20 ms a request, the
  container running 0.5 s after the patch), for 1 and 3 targets, against the same cluster's
  `kubectl debug --attach` (one process: get, patch, watch, attach) as the reference;
  also with polling forced (no right to watch) and with kubectl 1.27 (replace --raw); once
  with a kubelet that reports at once, once with one that reports at its 1 s relist;
- the other ways to reach on the same cluster: --copy-to and node/NAME (create, watch, logs,
  delete), and --reuse with an agent running (get, exec: no container added);
- the recorded real sessions (fixtures, replayed at their recorded pace by the stub).
With --kubeconfig it times reach (and --reference) on a real cluster instead.
With --fleet it times fan-outs (-l over 1, 10 and 50 pods, 3 targets each) on the simulated
cluster with 50 ms per API request and containers that start 1 s after their patch, as ratios
to the one-pod fan-out, with the kubectl processes each pod costs.
Figures are ratios measured in one run: machines here are noisy. Nothing here is a test.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
REACH = [PY, os.path.join(ROOT, "reach.py")]
SIM_COSTS = {"SIM_PROCESS": "0.02", "SIM_API": "0.02", "SIM_START_DELAY": "0.5,0.5"}
# reach's compiled modules, as an installed or once-run reach has them (pip writes them at install,
# Python next to a checkout's sources on its first run). This machine sets PYTHONDONTWRITEBYTECODE,
# which would time the compiling of reach's sources on every run; a cache of the bench's own
# keeps the checkout clean. The simulated kubectl is left as calibrated (its wrapper unsets it).
BYTECODE = tempfile.mkdtemp(prefix="reach-bench-pyc-")
UNCACHED = 'unset PYTHONPYCACHEPREFIX\n'


def compiled(env):
    """`env` for a reach whose modules are compiled once and then read (see BYTECODE)."""
    env = dict(os.environ if env is None else env, PYTHONPYCACHEPREFIX=BYTECODE)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(argv, env=None):
    started = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, out


def median_run(argv, runs, env_for_run=None):
    """Median wall time, and the last run's output."""
    times, out = [], None
    for i in range(runs):
        env = env_for_run(i) if env_for_run else None
        seconds, out = timed(argv, env)
        times.append(seconds)
    return statistics.median(times), out


class Sim:
    """A fresh simulated cluster with one Running pod (the real pod of fixtures/open.jsonl)."""

    def __init__(self, extra_env):
        self.dir = tempfile.mkdtemp(prefix="reach-bench-")
        with open(os.path.join(ROOT, "fixtures", "open.jsonl")) as f:
            pod = json.loads([json.loads(line) for line in f][1]["stdout"])
        pod["metadata"]["name"] = "web"
        self.state = os.path.join(self.dir, "cluster")
        os.mkdir(self.state)
        with open(os.path.join(self.state, "pods.json"), "w") as f:
            json.dump({"default/web": pod}, f)
        tools = os.path.join(self.dir, "tools")
        os.mkdir(tools)
        nc = next((p for p in ("/bin/nc.openbsd", "/usr/bin/nc.openbsd") if os.path.exists(p)), None)
        if nc:
            os.symlink(nc, os.path.join(tools, "nc"))
        else:  # no real nc: one that says "open" at once, the same for reach and the reference
            with open(os.path.join(tools, "nc"), "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(os.path.join(tools, "nc"), 0o755)
        bindir = os.path.join(self.dir, "bin")
        os.mkdir(bindir)
        with open(os.path.join(bindir, "kubectl"), "w") as f:
            f.write('#!/bin/sh\n%sexec "%s" "%s" "$@"\n' % (UNCACHED, PY, os.path.join(ROOT, "tests", "sim",
                                                                                          "kubectl")))
        os.chmod(os.path.join(bindir, "kubectl"), 0o755)
        self.env = dict(os.environ, SIM_STATE=self.state, SIM_TOOLS=tools, PATH=bindir + ":" + os.environ["PATH"],
                        **dict(SIM_COSTS, **extra_env))
        self.env.pop("KUBECTL", None)
        self.env.pop("REACH_NAME_SUFFIX", None)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def listener():
    """A loopback port that accepts every connection (fifty pods' probes fill no backlog)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)

    def accept():
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            conn.close()
    threading.Thread(target=accept, daemon=True).start()
    return s


def sim_figures(runs, kubelet_env):
    port = listener()
    target = "127.0.0.1:%d" % port.getsockname()[1]
    rows = []

    def measure(label, extra_env, argv, cold=False, first=False):
        """`cold`: reach compiles its sources on every run; `first`: every run on a pod never
        probed before (a new cluster each run); else the first run is not timed (it warms the
        compiled modules, and leaves the pod with the ephemeral containers it has from then on)."""
        sims = []

        def env(i):
            if first or not sims:
                sims.append(Sim(dict(kubelet_env, **extra_env)))
            return sims[-1].env if cold or argv[:2] != REACH else compiled(sims[-1].env)
        try:
            if not first:
                timed(argv, env(-1))
            seconds, out = median_run(argv, runs, env)
            calls = json.loads(out.stdout).get("kubectlCalls") if argv[:2] == REACH and "-o" in argv else None
            return label, seconds, calls, out.returncode
        finally:
            for sim in sims:
                sim.close()

    reference = measure("kubectl debug --attach (reference)", {},
                        ["kubectl", "debug", "web", "-n", "default", "--image=busybox:1.36", "--attach", "--",
                         "nc", "-zv", "-w", "3"] + target.split(":"))
    rows.append(reference)
    one = REACH + ["web", "-n", "default", "--to", target, "-o", "json"]
    three = REACH + ["web", "-n", "default", "--to", target, "--to", "127.0.0.1:1", "--to", "localhost:%s" %
                     target.split(":")[1], "-o", "json"]
    rows.append(measure("reach, 1 target", {}, one))
    rows.append(measure("reach, 1 target, the pod's first probe", {}, one, first=True))
    rows.append(measure("reach, 1 target, sources compiled each run", {}, one, cold=True))
    rows.append(measure("reach, 3 targets", {}, three))
    rows.append(measure("reach, 1 target, polling (no right to watch)", {"SIM_NO_WATCH": "1"}, one))
    rows.append(measure("reach, 1 target, kubectl 1.27 (replace --raw)", {"SIM_CLIENT": "27"}, one))
    rows.append(measure("reach --copy-to (create, watch, delete)", {}, one + ["--copy-to", "web-reach"]))
    rows.append(measure("reach node/NAME (create, watch, delete)", {}, REACH + [
        "node/sim-node", "-n", "default", "--to", target, "-o", "json"]))
    rows.append(measure_reuse(kubelet_env, one + ["--reuse"], runs))
    port.close()
    return reference[1], rows


def measure_reuse(kubelet_env, argv, runs):
    """--reuse once an agent runs: the first run adds it (not timed), the others exec in it."""
    sim = Sim(kubelet_env)
    try:
        timed(argv, compiled(sim.env))
        seconds, out = median_run(argv, runs, lambda i: compiled(sim.env))
        doc = json.loads(out.stdout)
        assert doc["mode"] == "reused", doc
        return "reach --reuse, agent running (get, exec)", seconds, doc["kubectlCalls"], out.returncode
    finally:
        subprocess.run([PY, os.path.join(ROOT, "tests", "sim", "kubectl"), "__sim-shutdown"], env=sim.env,
                       capture_output=True)
        sim.close()


FLEET_COSTS = {"SIM_PROCESS": "0.02", "SIM_API": "0.05", "SIM_START_DELAY": "1,1"}


def fleet_figures(runs, sizes=(1, 10, 50), parallel=None):
    ports = [listener(), listener()]
    targets = "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:1" % tuple(p.getsockname()[1] for p in ports)
    rows, base = [], None
    for n in sizes:
        sim = Sim(FLEET_COSTS)
        with open(os.path.join(sim.state, "pods.json")) as f:
            (pod,) = json.load(f).values()
        pods = {}
        for i in range(n):
            p = json.loads(json.dumps(pod))
            p["metadata"].update(name="web-%d" % i, labels={"app": "web"})
            pods["default/web-%d" % i] = p
        log = os.path.join(sim.dir, "calls.jsonl")

        def env(i, sim=sim, pods=pods, log=log):
            with open(os.path.join(sim.state, "pods.json"), "w") as f:
                json.dump(pods, f)   # fresh pods each run: no containers left from the last
            if os.path.exists(log):
                os.unlink(log)
            return compiled(dict(sim.env, SIM_LOG=log))
        argv = REACH + ["-l", "app=web", "-n", "default", "--to", targets, "-o", "json"] + \
            (["--parallel", str(parallel)] if parallel else [])
        seconds, out = median_run(argv, runs, env)
        with open(log) as f:
            processes = sum(1 for _ in f)
        base = base or seconds
        rows.append(("%d pod%s x 3 targets%s" % (n, "" if n == 1 else "s", ", --parallel %d" % parallel
                                                  if parallel else ""),
                     seconds, "%.1f/pod" % (processes / n), out.returncode))
        sim.close()
    for p in ports:
        p.close()
    return base, rows


def recorded_figures(runs):
    """The recorded real sessions, replayed by the stub at their recorded pace."""
    rows = []
    bindir = tempfile.mkdtemp(prefix="reach-bench-stub-")
    with open(os.path.join(bindir, "kubectl"), "w") as f:
        f.write('#!/bin/sh\n%sexec "%s" -S "%s" "$@"\n' % (UNCACHED, PY, os.path.join(ROOT, "tests", "stub",
                                                                                          "kubectl")))
    os.chmod(os.path.join(bindir, "kubectl"), 0o755)
    for name in ("watch", "open", "multi"):
        with open(os.path.join(ROOT, "fixtures", name + ".jsonl")) as f:
            meta = json.loads(f.readline())["meta"]

        def env(i, meta=meta, name=name):
            state = os.path.join(bindir, "state-%s-%d" % (name, i))
            return compiled(dict(os.environ, PATH=bindir + ":" + os.environ["PATH"], REACH_FIXTURE=os.path.join(
                ROOT, "fixtures", name + ".jsonl"), REACH_STUB_STATE=state, REACH_STUB_SPEED="1",
                REACH_NAME_SUFFIX=meta["suffix"]))
        seconds, out = median_run(REACH + meta["args"] + ["-o", "json"], runs, env)
        rows.append(("recorded session %s (%d target%s)" % (name, len(meta["args"]) // 2 - 2,
                                                          "s" if name == "multi" else ""),
                     seconds, json.loads(out.stdout)["kubectlCalls"], out.returncode))
    shutil.rmtree(bindir, ignore_errors=True)
    return rows


def cluster_figures(args):
    flags = ["--kubeconfig", args.kubeconfig] + (["-n", args.namespace] if args.namespace else [])
    rows = []
    reference = None
    if args.reference:
        reference, out = median_run(["sh", "-c", args.reference], args.runs)
        rows.append(("reference: %s" % args.reference, reference, None, out.returncode))
    seconds, out = median_run(REACH + [args.pod, "--to", args.to, "-o", "json"] + flags, args.runs)
    calls = json.loads(out.stdout).get("kubectlCalls") if out.stdout.strip() else None
    rows.append(("reach, 1 target", seconds, calls, out.returncode))
    return reference, rows


def table(title, rows, reference):
    print("\n%s" % title)
    print("  %-52s %9s %7s %10s %5s" % ("", "median", "ratio", "processes", "exit"))
    for label, seconds, calls, code in rows:
        ratio = "%.2fx" % (seconds / reference) if reference else "-"
        print("  %-52s %7.0fms %7s %10s %5s" % (label, seconds * 1000, ratio, calls if calls else "-", code))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--kubeconfig")
    parser.add_argument("--pod")
    parser.add_argument("-n", "--namespace")
    parser.add_argument("--to")
    parser.add_argument("--reference", help="a command to compare with, e.g. kubectl debug ... --attach -- nc ...")
    parser.add_argument("--fleet", action="store_true", help="time fan-outs over 1, 10 and 50 pods")
    args = parser.parse_args()
    if args.fleet:
        costs = ", ".join("%s=%s" % kv for kv in FLEET_COSTS.items())
        base, rows = fleet_figures(args.runs)
        _, more = fleet_figures(args.runs, sizes=(50,), parallel=50)
        table("fan-out on the simulated cluster: %s (%d runs each; ratio to 1 pod)" % (costs, args.runs),
              rows + more, base)
        return
    if args.kubeconfig:
        if not (args.pod and args.to):
            parser.error("--kubeconfig needs --pod and --to")
        reference, rows = cluster_figures(args)
        table("real cluster (%d runs each)" % args.runs, rows, reference)
        return
    python, _ = median_run([PY, "-c", "pass"], args.runs)
    timed(REACH + ["--help"], compiled(None))
    start, _ = median_run(REACH + ["--help"], args.runs, lambda i: compiled(None))
    table("CLI start (%d runs each)" % args.runs,
          [("python -c pass", python, None, 0), ("reach.py --help", start, None, 0)], python)
    costs = ", ".join("%s=%s" % kv for kv in SIM_COSTS.items())
    for kubelet, env in (("a kubelet that reports changes at once", {}),
                         ("a kubelet that reports changes at its 1 s relist (PLEG)", {"SIM_RELIST": "1"})):
        reference, rows = sim_figures(args.runs, env)
        table("simulated cluster, %s: %s (%d runs each)" % (kubelet, costs, args.runs), rows, reference)
    table("recorded real sessions, replayed at their pace (%d runs each)" % args.runs, recorded_figures(args.runs),
          None)


if __name__ == "__main__":
    main()
