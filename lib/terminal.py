"""The terminal side of a run: progress on stderr, a line per verdict, colour only on a TTY."""
from __future__ import annotations

import os
from typing import Optional, TextIO

from . import report
from .probe import Verdict
from .run import RunResult, Ui


class TerminalUi(Ui):
    def __init__(self, out: TextIO, err: TextIO, output: str, quiet: bool = False):
        self.out, self.err, self.output, self.quiet = out, err, output, quiet
        self.demo = False
        self.style = report.Style(color=wants_color(out), unicode=can_encode(out, "✓✗"))
        self.shown: set = set()

    def progress(self, message: str) -> None:
        if self.quiet:
            return
        try:
            self.err.write("%s\n" % message)
            self.err.flush()
        except BrokenPipeError:  # stderr closed (2>&1 | head): progress is not worth a failed run
            self.err = open(os.devnull, "w")

    def verdict(self, verdict: Verdict) -> None:
        # Called from the thread that reads kubectl's output: a closed pipe (reach ... | head -1)
        # must not become a traceback there; the run goes on and its exit code stays right.
        if self.output == "text" and verdict.target not in self.shown:
            self.shown.add(verdict.target)
            try:
                self.out.write(report.verdict_line(verdict, self.style) + "\n")
                self.out.flush()
            except BrokenPipeError:
                self.out = open(os.devnull, "w")

    def finish(self, result: RunResult, explanations: Optional[dict] = None) -> None:
        explanations = explanations or {}
        if self.output == "text":
            for verdict in result.verdicts:  # those the log never reported
                self.verdict(verdict)
            self.out.write(report.summary_line(result) + "\n")
            for warning in result.warnings:
                self.out.write("warning: %s\n" % warning)
            for note in result.notes:
                self.out.write("note: %s\n" % note)
            for verdict in result.verdicts:
                if verdict.target in explanations:
                    lines = report.why_lines(verdict.target, verdict.outcome, explanations[verdict.target].lines)
                    self.out.write("".join(line + "\n" for line in lines))
        else:
            self.out.write(report.render(report.document(result, explanations), self.output))


def wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False
