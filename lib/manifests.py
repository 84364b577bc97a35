"""Reading the JSON and YAML documents people hand to reach: pod files and patches."""
from __future__ import annotations

import json
import sys
from typing import Any, List, Optional, TextIO

from .errors import UsageError


def read_text(path: str, stdin: Optional[TextIO] = None) -> str:
    """`-` reads standard input."""
    if path == "-":
        return (stdin or sys.stdin).read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except IsADirectoryError:
        raise UsageError("cannot read %s: it is a directory" % path)
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (path, e.strerror or e))
    except UnicodeDecodeError:
        raise UsageError("cannot read %s: not UTF-8 text" % path)


def parse(text: str, label: str) -> List[Any]:
    """The documents in a JSON or YAML text (YAML may hold several, separated by ---)."""
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    try:
        import yaml  # only when the text is not JSON: most pod files and patches are
    except ImportError:
        raise UsageError("%s is not JSON, and YAML needs pyyaml (pip install pyyaml)" % label)
    try:
        docs = [d for d in yaml.load_all(text, Loader=_loader(yaml)) if d is not None]
    except yaml.YAMLError as e:
        raise UsageError("%s is neither JSON nor YAML: %s" % (label, " ".join(str(e).split())))
    if not docs:
        raise UsageError("%s holds no document" % label)
    return docs


def _loader(yaml):
    """SafeLoader without timestamps: kubectl reads 2024-01-01 (an env value, a creationTimestamp)
    as the string it is, and JSON has no dates."""
    class Loader(yaml.SafeLoader):
        pass
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return Loader


def read_pod(path: str, stdin: Optional[TextIO] = None) -> dict:
    """A pod as `kubectl get pod -o json|yaml` prints it."""
    docs = parse(read_text(path, stdin), path)
    pod = docs[0]
    if len(docs) != 1 or not isinstance(pod, dict) or pod.get("kind", "Pod") != "Pod" or "spec" not in pod:
        raise UsageError("%s is not a pod: expected the output of kubectl get pod NAME -o json (or -o yaml)" % path)
    check_pod(pod, path)
    pod.setdefault("metadata", {})
    return pod


def check_pod(pod: dict, label: str) -> None:
    """The parts of a pod reach reads, of the types the API gives them; else a UsageError."""
    spec = pod.get("spec")
    problem = None
    if not isinstance(spec, dict):
        problem = "spec is not an object"
    elif not isinstance(pod.get("metadata", {}), dict):
        problem = "metadata is not an object"
    elif not isinstance(spec.get("securityContext") or {}, dict):
        problem = "spec.securityContext is not an object"
    else:
        for key in ("containers", "initContainers", "ephemeralContainers", "volumes"):
            items = spec.get(key) or []
            if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str)
                                                      for i in items):
                problem = "spec.%s is not a list of objects with a name" % key
                break
    if problem:
        raise UsageError("%s is not a pod: %s" % (label, problem))
