"""`reach lint`: check ephemeral-container patches offline, as the API server would.

A document is one of: a strategic-merge patch or a JSON merge patch (`{"spec":
{"ephemeralContainers": [...]}}`), a JSON patch (a list of operations), or a whole pod (the
body of a PUT to the ephemeralcontainers subresource). Each is turned into the same three
things: the pod's ephemeral containers before, after, and which of them the document adds.
The checks then run on those: structure (schema), the API server's rules (apirules), what
the update may not do to existing containers, and PodSecurity (podsecurity).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import apirules, fieldpath, manifests, podsecurity, schema
from .errors import UsageError
from .fieldpath import Path

PATCH_TYPES = ("strategic", "merge", "json", "pod")
LIST = apirules.LIST


class Finding(NamedTuple):
    file: str
    path: str      # where in the document: "spec.ephemeralContainers[0].ports", "[0].value.ports"
    field: str     # the API field it concerns, as the server names it
    message: str   # the server's words: "Forbidden: cannot be set for an Ephemeral Container"
    rule: str      # schema | api | update | podsecurity | patch

    def text(self) -> str:
        line = "%s: %s: %s" % (self.file, self.path or "(document)", self.message)
        if self.field and self.field != self.path:
            line += " (API field %s)" % self.field
        return line

    def document(self) -> Dict[str, str]:
        return {"file": self.file, "path": self.path, "field": self.field, "message": self.message,
                "rule": self.rule, "error": "%s: %s" % (self.field, self.message) if self.field else self.message}


class Added(NamedTuple):
    container: Dict[str, Any]
    doc_path: Path     # where the document holds it


class Update(NamedTuple):
    """What a document does to the pod's ephemeral containers."""
    before: Optional[List[Dict[str, Any]]]   # None: the pod is not known
    after: List[Dict[str, Any]]
    added: List[Added]                        # in `after` order
    list_path: Path                           # where the document holds the list (for update errors)
    notes: List[Tuple[Path, str, str]]        # (doc path, message, rule) found while reading it


def detect(doc: Any, patch_type: Optional[str]) -> str:
    if patch_type:
        return patch_type
    if isinstance(doc, list):
        return "json"
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if isinstance(doc, dict) and (doc.get("kind") == "Pod" or (isinstance(spec, dict) and "containers" in spec
                                                                and "metadata" in doc)):
        return "pod"
    return "strategic"


def lint(doc: Any, label: str, pod: Optional[Dict[str, Any]], patch_type: Optional[str] = None,
         level: str = "restricted") -> List[Finding]:
    kind = detect(doc, patch_type)
    if kind == "json":
        if not isinstance(doc, list):
            raise UsageError("%s: a JSON patch is a list of operations" % label)
        update = _json_patch(doc, pod)
    elif not isinstance(doc, dict):
        raise UsageError("%s: expected a patch object, a JSON patch (a list) or a pod" % label)
    elif doc.get("kind", "Pod") != "Pod":
        raise UsageError("%s is a %s, not a pod or a patch" % (label, doc.get("kind")))
    elif kind == "pod" and pod is None and _created_by_reach(doc):
        manifests.check_pod(doc, label)
        return _created_pod(doc, label, level)
    elif kind == "pod":
        if pod is None:  # a PUT body is its own pod: containers, volumes, securityContext
            manifests.check_pod(dict(doc, spec=dict(doc.get("spec") or {}, ephemeralContainers=[])), label)
        update = _whole_pod(doc, pod)
        pod = pod or doc
    else:
        update = _merge_patch(doc, pod, strategic=kind == "strategic")
    return _check(update, pod, label, level)


# --- reading the documents ---------------------------------------------------------------------

def _existing(pod: Optional[Dict[str, Any]]) -> Optional[List[Dict[str, Any]]]:
    if pod is None:
        return None
    return [c for c in (pod.get("spec") or {}).get("ephemeralContainers") or [] if isinstance(c, dict)]


def _ignored(path: Path) -> Tuple[Path, str, str]:
    return path, "ignored: the ephemeralcontainers subresource takes only spec.ephemeralContainers", "patch"


def _merge_patch(doc: Dict[str, Any], pod: Optional[Dict[str, Any]], strategic: bool) -> Update:
    notes = [_ignored((str(key),)) for key in doc if key not in ("spec", "apiVersion", "kind")]
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    for key in spec:
        if key != "ephemeralContainers" and not str(key).startswith("$setElementOrder/"):
            notes.append(_ignored(("spec", str(key))))
    before = _existing(pod)
    if "ephemeralContainers" in spec and spec["ephemeralContainers"] is None:
        return Update(before, [], [], LIST, notes)  # null deletes the list, in both kinds of merge
    items = spec.get("ephemeralContainers")
    if not isinstance(items, list):
        if items is not None:
            notes.append((LIST, fieldpath.invalid(items, "expected a list"), "patch"))
        return Update(before, list(before or []), [], LIST, notes)
    replace = not strategic or any(isinstance(i, dict) and i.get("$patch") == "replace" for i in items)
    if not strategic and before is None:
        notes.append((LIST, "a JSON merge patch replaces the whole list, so it fails on any pod that has an "
                            "ephemeral container already (existing ephemeral containers ... may not be removed); "
                            "use a strategic merge patch (kubectl patch --type=strategic)", "patch"))
    after = [] if replace else [copy.deepcopy(c) for c in before or []]
    known = [c.get("name") for c in before or []]
    added: List[Added] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and "$patch" in item:
            if item["$patch"] == "delete":
                after = [c for c in after if c.get("name") != item.get("name")]
            elif item["$patch"] != "replace":
                notes.append((LIST + (i, "$patch"), fieldpath.not_supported(item["$patch"], ["delete", "replace"]),
                              "patch"))
            continue
        container = _container(item)
        same = [c for c in after if c.get("name") == container.get("name")] if strategic else []
        if same and any(a.container is same[0] for a in added):
            notes.append((LIST + (i, "name"), fieldpath.duplicate(container.get("name")) + ": a strategic merge "
                          "patch merges list items of one name, so this one changes the one before it", "patch"))
        if same:  # strategic patches merge list items by name: this one changes an existing container
            _merge_into(same[0], container)
            continue
        after.append(container)
        if container.get("name") not in known:  # a merge patch restates the ones it keeps
            added.append(Added(container, LIST + (i,)))
    return Update(before, after, added, LIST, notes)


def _merge_into(old: Dict[str, Any], new: Dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            _merge_into(old[key], value)
        else:
            old[key] = value


def _json_patch(ops: List[Any], pod: Optional[Dict[str, Any]]) -> Update:
    before = _existing(pod)
    # Without the pod, assume it already has the list, so appends work; --pod-file tells.
    after: Optional[List[Dict[str, Any]]] = None if pod is not None and not before else copy.deepcopy(before or [])
    added: List[Added] = []
    notes: List[Tuple[Path, str, str]] = []
    list_path: Path = ()  # the first operation on the list: update errors point there
    for k, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("path"), str) or "op" not in op:
            notes.append(((k,), fieldpath.invalid(op, 'an operation needs "op" and "path"'), "patch"))
            continue
        name, path, value = op["op"], op["path"], op.get("value")
        parts = path.split("/")[1:] if path.startswith("/") else None
        if name == "test":
            continue
        if parts is None or parts[:2] != ["spec", "ephemeralContainers"]:
            notes.append(_ignored((k, "path")))
            continue
        if name not in ("add", "replace", "remove"):
            notes.append(((k, "op"), fieldpath.not_supported(name, ["add", "remove", "replace", "test"]), "patch"))
            continue
        list_path = list_path or (k,)
        if len(parts) == 2:  # the whole list
            if name == "remove":
                after = []
                continue
            if not isinstance(value, list):
                notes.append(((k, "value"), fieldpath.invalid(value, "expected a list of containers"), "patch"))
                continue
            after = []
            for j, c in enumerate(value):
                after.append(_container(c))
                if after[-1].get("name") not in [b.get("name") for b in before or []]:
                    added.append(Added(after[-1], (k, "value", j)))
            continue
        if after is None:
            # What kube-apiserver answers (HTTP 422, no details) when the pod has no list yet.
            notes.append(((k, "path"), "The request is invalid: the server rejected our request due to an error in "
                                       "our request (the pod has no ephemeral containers yet, so there is no list to "
                                       "add to: add /spec/ephemeralContainers with a one-element list instead)",
                          "api"))
            continue
        index = parts[2]
        if len(parts) == 3 and name == "add":
            c = _container(value)
            position = len(after) if index == "-" else _index(index, len(after) + 1)
            if position is None:
                notes.append(((k, "path"), fieldpath.invalid(path, "no such list position"), "patch"))
                continue
            after.insert(position, c)
            added.append(Added(c, (k, "value")))
            continue
        position = _index(index, len(after))
        if position is None:
            notes.append(((k, "path"), fieldpath.invalid(path, "no such ephemeral container"), "patch"))
        elif len(parts) == 3 and name == "remove":
            del after[position]
        elif len(parts) == 3:
            after[position] = _container(value)
            if after[position].get("name") not in [b.get("name") for b in before or []]:
                added.append(Added(after[position], (k, "value")))
        elif not _set_field(after[position], parts[3:], name, value):
            notes.append(((k, "path"), fieldpath.invalid(path, "no such field"), "patch"))
    present = {id(c) for c in after or []}
    return Update(before, after or [], [a for a in added if id(a.container) in present], list_path, notes)


def _set_field(container: Dict[str, Any], parts: List[str], op: str, value: Any) -> bool:
    """Apply one operation at a JSON pointer inside a container; False when it cannot apply."""
    node: Any = container
    parts = [p.replace("~1", "/").replace("~0", "~") for p in parts]
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    last = parts[-1]
    if isinstance(node, dict):
        if op == "remove":
            return node.pop(last, None) is not None or last in node
        node[last] = copy.deepcopy(value)
        return True
    if isinstance(node, list) and (last == "-" or (last.isdigit() and int(last) <= len(node))):
        position = len(node) if last == "-" else int(last)
        if op == "remove" and position < len(node):
            del node[position]
        elif op == "replace" and position < len(node):
            node[position] = copy.deepcopy(value)
        elif op == "add":
            node.insert(position, copy.deepcopy(value))
        else:
            return False
        return True
    return False


def _container(value: Any) -> Dict[str, Any]:
    """A fresh copy: containers are told apart by identity, and YAML anchors share objects."""
    return copy.deepcopy(value) if isinstance(value, dict) else {"name": None, "$value": value}


def _index(text: str, size: int) -> Optional[int]:
    return int(text) if text.isdigit() and int(text) < size else None


def _whole_pod(doc: Dict[str, Any], pod: Optional[Dict[str, Any]]) -> Update:
    before = _existing(pod)
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    items = spec.get("ephemeralContainers")
    notes: List[Tuple[Path, str, str]] = []
    if not isinstance(items, list):
        items = []
    known = [c.get("name") for c in before or []]
    after = [_container(c) for c in items]
    added = [Added(c, LIST + (i,)) for i, c in enumerate(after) if c.get("name") not in known]
    return Update(before, after, added, LIST, notes)


def _created_by_reach(doc: Dict[str, Any]) -> bool:
    """A pod reach creates (--copy-to, node/NAME --print-patch): it is created, not patched."""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    return (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") == "kubectl-reach" or \
        "kubectl-reach/copy-of" in (meta.get("annotations") or {})


def _created_pod(doc: Dict[str, Any], label: str, level: str) -> List[Finding]:
    """PodSecurity over a whole pod to create: what the pod holds (host namespaces, volumes,
    host ports, sysctls), then every container."""
    spec = doc["spec"]
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    found = [(reason, detail) for reason, detail in podsecurity.check_pod(spec, containers, level)] + \
        [(v.reason, v.detail) for v in podsecurity.check(containers, doc, level)]
    return [Finding(label, "spec", "spec", 'violates PodSecurity "%s:latest": %s (%s)' % (level, reason, detail),
                    "podsecurity") for reason, detail in found]


# --- the checks --------------------------------------------------------------------------------

def _check(update: Update, pod: Optional[Dict[str, Any]], label: str, level: str) -> List[Finding]:
    findings = [Finding(label, fieldpath.render(path), "", message, rule) for path, message, rule in update.notes]
    positions = {id(c): i for i, c in enumerate(update.after)}
    where = {}  # API path of each added container -> its path in the document
    undecodable = set()  # ids of containers the API server could not decode: only structure applies
    for added in update.added:
        api = LIST + (positions[id(added.container)],)
        where[api] = added.doc_path
        if "$value" in added.container:
            findings.append(_finding(label, api, added.doc_path, api,
                                     fieldpath.invalid(added.container["$value"], "expected a container object"),
                                     "schema"))
            undecodable.add(id(added.container))
            continue
        for path, message, fatal in schema.check_container(added.container, api):
            findings.append(_finding(label, api, added.doc_path, path, message, "schema"))
            if fatal:
                undecodable.add(id(added.container))
        if id(added.container) not in undecodable:
            for path, message in apirules.check_container(added.container, api, pod):
                findings.append(_finding(label, api, added.doc_path, path, message, "api"))
    added_ids = {id(a.container) for a in update.added}
    for i, c in enumerate(update.after):  # the ones kept or changed: a wrong type stops decoding too
        if id(c) not in added_ids:
            for path, message, fatal in schema.check_container(c, LIST + (i,)):
                if fatal:
                    findings.append(Finding(label, fieldpath.render(update.list_path), fieldpath.render(path),
                                            message, "schema"))
                    undecodable.add(id(c))
    if undecodable:
        return _unique(findings)
    in_order = [(c, LIST + (i,), id(c) in added_ids) for i, c in enumerate(update.after)]
    for path, message in apirules.check_names(in_order, pod):
        api = path[:3]
        findings.append(_finding(label, api, where[api], path, message, "api"))
    if update.before is not None:
        for path, message in apirules.check_update(update.before, update.after):
            findings.append(Finding(label, fieldpath.render(update.list_path), fieldpath.render(path), message,
                                    "update"))
    if update.added:   # an update that adds nothing changes nothing PodSecurity would judge
        findings.extend(_pod_security(update, pod, level, label, where))
    if not update.added and not [f for f in findings if f.rule in ("update", "api", "schema")]:
        findings.append(Finding(label, fieldpath.render(update.list_path), "", "adds no ephemeral container: the API "
                                "server takes it and changes nothing (kubectl prints \"patched (no change)\")",
                                "patch"))
    return _unique(findings)


def _pod_security(update: Update, pod: Optional[Dict[str, Any]], level: str, label: str,
                  where: Dict[Path, Path]) -> List[Finding]:
    """PodSecurity looks at the whole pod on every update: with the pod known, its own containers
    too (a pod admitted before the namespace got stricter makes every patch fail)."""
    spec = (pod or {}).get("spec") or {}
    own = list(spec.get("initContainers") or []) + list(spec.get("containers") or []) if pod is not None else []
    evaluated = own + (list(update.after) if update.before is not None else [a.container for a in update.added])
    api_of = {a.container.get("name"): LIST + (update.after.index(a.container),) for a in update.added}
    out = []
    for violation in podsecurity.check(evaluated, pod, level):
        at = [api_of[n] for n in violation.containers if n in api_of]
        if len(at) == 1 and len(violation.containers) == 1:
            api, doc = at[0] + ("securityContext",), where[at[0]] + ("securityContext",)
        else:  # several containers, or the pod's own: the whole list (or pod) is at fault
            api, doc = (LIST if len(at) == len(violation.containers) else ("spec",)), update.list_path
        out.append(Finding(label, fieldpath.render(doc), fieldpath.render(api), violation.message(level),
                           "podsecurity"))
    return out


def _unique(findings: List[Finding]) -> List[Finding]:
    """The structure and the API rules both require a name: say it once."""
    return list({(f.path, f.message): f for f in findings}.values())


def _finding(label: str, api_prefix: Path, doc_prefix: Path, path: Path, message: str, rule: str) -> Finding:
    doc = doc_prefix + path[len(api_prefix):]
    return Finding(label, fieldpath.render(doc), fieldpath.render(path), message, rule)


def lint_files(paths: Sequence[str], read, pod: Optional[Dict[str, Any]], patch_type: Optional[str],
               level: str) -> List[Finding]:
    """Every document of every file; `read(path)` gives the documents (UsageError when it cannot)."""
    findings: List[Finding] = []
    for path in paths:
        label = "<stdin>" if path == "-" else path
        docs = read(path)
        for n, doc in enumerate(docs, 1):
            name = label if len(docs) == 1 else "%s (document %d)" % (label, n)
            findings.extend(lint(doc, name, pod, patch_type, level))
    return findings
