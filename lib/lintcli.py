"""`reach lint FILE...`: the command line of lint (lint.py holds the checks)."""
from __future__ import annotations

import argparse
from typing import List, TextIO

from . import lint, manifests, podsecurity, report, schema
from .errors import Exit, ReachError, UsageError


def build_parser(prog: str) -> argparse.ArgumentParser:
    from .cli import Parser  # one-line errors, as the other commands
    p = Parser(
        prog=prog + " lint", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check ephemeral-container patches offline, the way the API server and PodSecurity admission "
                    "would:\nstructure against the Kubernetes OpenAPI definition of EphemeralContainer, the API "
                    "server's\nrules for ephemeral containers, what an update may not do to existing ones, and "
                    "PodSecurity.",
        epilog="FILE holds JSON or YAML (several YAML documents are each checked): a strategic-merge patch\n"
               "({\"spec\": {\"ephemeralContainers\": [...]}}), a JSON patch (a list of operations), or a whole pod\n"
               "(the body of a PUT to the ephemeralcontainers subresource). '-' reads standard input.\n\n"
               "checks that need the pod (duplicate names, targetContainerName, volumes, changes to existing\n"
               "ephemeral containers, JSON patches on a pod without any) run when --pod-file is given.\n\n"
               "exit codes: 0 no findings, 1 findings, 2 unreadable input or usage error, 4 internal error")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--pod-file", metavar="FILE", help="the pod the patch is for (kubectl get pod NAME -o json|yaml)")
    p.add_argument("--level", choices=podsecurity.LEVELS, default="restricted",
                   help="the namespace's PodSecurity enforce level (default: %(default)s)")
    p.add_argument("--type", dest="patch_type", choices=lint.PATCH_TYPES,
                   help="what FILE holds, as kubectl patch --type names it (default: a list is a JSON patch, "
                        "an object with kind or metadata a pod, any other object a strategic-merge patch)")
    p.add_argument("-o", "--output", choices=("text", "json", "yaml"), default="text", help="default: text")
    return p


def main(argv: List[str], prog: str, out: TextIO, err: TextIO) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        if (args.files + [args.pod_file]).count("-") > 1:
            raise UsageError("standard input can be read once: give the other as a file")
        pod = manifests.read_pod(args.pod_file) if args.pod_file else None
        findings = lint.lint_files(
            args.files, lambda path: manifests.parse(manifests.read_text(path), "<stdin>" if path == "-" else path),
            pod, args.patch_type, args.level)
    except ReachError as e:
        err.write("error: %s%s\n" % (e.message, "; " + e.hint if e.hint else ""))
        return int(Exit.USAGE)
    except Exception as e:  # a bug; never mistaken for findings (1) by a CI job
        err.write("error: internal error: %s: %s; please report it with the input\n" % (type(e).__name__, e))
        return int(Exit.PROBE)
    if args.output in ("json", "yaml"):
        doc = {"kubernetes": schema.kubernetes_version(), "level": args.level, "files": args.files,
               "findings": [f.document() for f in findings]}
        out.write(report.render(doc, args.output))
    else:
        for f in findings:
            out.write(f.text() + "\n")
        what = "%d finding%s" % (len(findings), "" if len(findings) == 1 else "s") if findings else "no findings"
        err.write("lint: %s in %d file%s (schema of Kubernetes %s, PodSecurity %s)\n"
                  % (what, len(args.files), "" if len(args.files) == 1 else "s", schema.kubernetes_version(),
                     args.level))
    return int(Exit.UNREACHABLE) if findings else int(Exit.OK)
