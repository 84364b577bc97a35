"""Shell completion for `kubectl reach`, in the protocol kubectl (>= 1.26) speaks to plugins.

kubectl runs `kubectl_complete-reach WORD... PARTIAL` (the words typed after `reach`, then the
word being completed) and reads one candidate per line, then `:N`, a Cobra ShellCompDirective.
`reach __complete WORD... PARTIAL` is the same, for the helper script and for testing.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable, List, Sequence, TextIO, Tuple

from .kubectl import Kubectl

DEFAULT = 0          # let the shell complete file names
NO_FILES = 4         # ShellCompDirectiveNoFileComp
FILE_FLAGS = ("--pod-file", "--kubeconfig", "--kubectl")


def value_flags(parser: argparse.ArgumentParser) -> dict:
    """Every option that takes a value -> its argparse action."""
    return {opt: a for a in parser._actions for opt in a.option_strings if a.nargs != 0}


def complete(words: Sequence[str], parser: argparse.ArgumentParser, lint_parser: argparse.ArgumentParser,
             kube_for: Callable[[dict], Kubectl]) -> Tuple[List[str], int]:
    """Candidates and a directive for the last word of `words` (possibly empty)."""
    *done, partial = list(words) or [""]
    if done[:1] in (["explain"], ["history"]):  # a pod and flags, as for a probe run
        done = done[1:]
    in_lint = done[:1] == ["lint"]
    active = lint_parser if in_lint else parser
    takes_value = value_flags(active)
    given = _given(done, takes_value)
    previous = done[-1] if done else ""
    if previous in takes_value:
        return _values(previous, takes_value[previous], given, partial, kube_for)
    flag, eq, value = partial.partition("=")
    if eq and flag in takes_value:  # --namespace=sh<TAB>: the shell completes the part after "="
        return _values(flag, takes_value[flag], given, value, kube_for)
    if partial.startswith("-"):
        options = sorted(o for a in active._actions for o in a.option_strings)
        return [o for o in options if o.startswith(partial)], NO_FILES
    if in_lint:
        return [], DEFAULT  # FILE...
    if _positionals(done, takes_value):
        return [], NO_FILES  # the pod is given; the rest are flags
    pods = kube_for(given).names(["get", "pods"] + _ns(given))
    commands = ["explain", "history", "lint"] if not list(words)[:-1] else []
    return [w for w in pods + commands if w.startswith(partial)], NO_FILES


def _given(done: Sequence[str], takes_value: dict) -> dict:
    """Flag values typed so far, however spelled: -n x, -n=x, -nx, --namespace x, --namespace=x."""
    given = {}
    i = 0
    while i < len(done):
        word = done[i]
        flag, eq, value = word.partition("=")
        if eq and flag in takes_value:
            given[flag] = value
        elif word in takes_value and i + 1 < len(done):
            given[word] = done[i + 1]
            i += 1
        elif len(word) > 2 and word[:2] in takes_value and not word.startswith("--"):
            given[word[:2]] = word[2:]
        i += 1
    for short, long in (("-n", "--namespace"),):
        if short in given:
            given[long] = given[short]
    for key in ("--kubeconfig", "--kubectl"):
        if key in given:
            given[key] = os.path.expanduser(given[key])
    return given


def _positionals(done: Sequence[str], takes_value: dict) -> List[str]:
    out, skip = [], False
    for word in done:
        if skip:
            skip = False
        elif word in takes_value:
            skip = True
        elif not word.startswith("-"):
            out.append(word)
        # -n=x, --namespace=x, -nx and flags without a value take no next word
    return out


def _ns(given: dict) -> List[str]:
    return ["-n", given["--namespace"]] if given.get("--namespace") else []


def _values(flag: str, action: argparse.Action, given: dict, partial: str,
            kube_for: Callable[[dict], Kubectl]) -> Tuple[List[str], int]:
    if flag in FILE_FLAGS:
        return [], DEFAULT
    if action.choices:
        return [c for c in action.choices if c.startswith(partial)], NO_FILES
    if flag in ("-n", "--namespace"):
        found = kube_for(given).names(["get", "namespaces"])
    elif flag == "--context":
        found = kube_for({k: v for k, v in given.items() if k != "--context"}).names(["config", "get-contexts"], output="name")
    else:
        return [], NO_FILES
    return [w for w in found if w.startswith(partial)], NO_FILES


def main(words: Sequence[str], parser: argparse.ArgumentParser, lint_parser: argparse.ArgumentParser,
         out: TextIO, env: dict) -> int:
    def kube_for(given: dict) -> Kubectl:
        return Kubectl(given.get("--kubectl") or env.get("KUBECTL") or "kubectl", given.get("--context"),
                       given.get("--kubeconfig"), record_dir=env.get("REACH_RECORD"))
    candidates, directive = complete(words, parser, lint_parser, kube_for)
    out.write("".join(c + "\n" for c in candidates) + ":%d\n" % directive)
    return 0
