"""--demo: replay a recorded real session through the stub kubectl (needs a checkout)."""
from __future__ import annotations

import argparse
import atexit
import json
import os
import tempfile

from .errors import UsageError

DEMO_FIXTURE = "multi"
EXPLAIN_FIXTURE = "explain-services"
FLEET_FIXTURE = "fleet-selector"


def checkout_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# What a demo replays is fixed: only how it is shown may change (-o, --tap, --junit, -q, -v).
_RECORDED = ("pod", "to", "dns", "namespace", "filename", "explain", "all_namespaces", "one", "parallel", "target",
             "print_patch", "dry_run", "context", "kubeconfig")


def prepare(args: argparse.Namespace, env: dict, explain: bool = False) -> str:
    """Fill args from the demo fixture's recorded arguments and point kubectl at the stub."""
    given = ["--" + k.replace("_", "-") if k != "pod" else "POD" for k in _RECORDED if getattr(args, k, None)]
    if given:
        raise UsageError("--demo replays a recorded session as it was: drop %s" % ", ".join(given),
                         "the demos are: --demo (3 targets), explain --demo, -l app=web --demo (a fan-out)")
    root = checkout_root()
    stub = os.path.join(root, "tests", "stub", "kubectl")
    fan_out = bool(getattr(args, "selector", None))
    name = EXPLAIN_FIXTURE if explain else FLEET_FIXTURE if fan_out else DEMO_FIXTURE
    fixture = os.path.join(root, "fixtures", name + ".jsonl")
    if not (os.path.exists(stub) and os.path.exists(fixture)):
        raise UsageError("--demo replays fixtures/%s.jsonl with tests/stub/kubectl, which only a checkout has"
                         % name, "in a checkout of kubectl-reach: python reach.py --demo")
    with open(fixture, encoding="utf-8") as f:
        meta = json.loads(f.readline())["meta"]
    from .cli import build_parser  # the recorded arguments, read as the command line reads them
    recorded = build_parser("reach").parse_args(meta["args"][1:] if explain else meta["args"])
    for key in ("pod", "namespace", "to", "timeout", "selector"):
        setattr(args, key, getattr(recorded, key))
    args.kubectl = stub
    fd, state = tempfile.mkstemp(prefix="reach-demo-")
    os.close(fd)
    os.unlink(state)
    atexit.register(lambda: os.path.exists(state) and os.unlink(state))
    env.update(REACH_FIXTURE=fixture, REACH_STUB_STATE=state, REACH_NAME_SUFFIX=meta["suffix"] or "demo0",
               REACH_STUB_SPEED=env.get("REACH_STUB_SPEED", "1"))
    os.environ.update(env)  # the stub is a child process: it reads the real environment
    return ("demo: replaying a real recorded session (fixtures/%s.jsonl: %s) through a stub kubectl; "
            "no cluster is contacted" % (name, " ".join(meta["args"])))
