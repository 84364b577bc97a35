"""Ctrl-C and SIGTERM as KeyboardInterrupt, but never in the middle of starting a process.

Python runs signal handlers in the main thread between any two bytecodes. An interrupt raised
inside fork's bookkeeping (the logging module's at-fork lock, which sh's process start goes
through) is swallowed there and leaves the lock taken, so every later process start waits for
ever. Starting a kubectl process is therefore done inside `deferred()`: a signal that arrives
then is held, and raised as soon as the process has started. Only the first signal counts.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

_state = {"depth": 0, "pending": False, "fired": False}


def _handler(signum: int, frame: Any) -> None:
    if _state["fired"]:
        return   # the first one is being handled: a second must not cut the clean-up short
    if _state["depth"]:
        _state["pending"] = True
        return
    _state["fired"] = True
    raise KeyboardInterrupt


def install() -> None:
    """SIGINT and SIGTERM (a cancelled CI job, kill) both take Ctrl-C's path."""
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _handler)
    except ValueError:  # not the main thread (reach used as a library)
        pass


@contextmanager
def deferred() -> Iterator[None]:
    """No KeyboardInterrupt inside; one that arrived meanwhile is raised on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield   # handlers run in the main thread only: other threads are never interrupted
        return
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        if not _state["depth"] and _state["pending"]:
            _state["pending"] = False
            _state["fired"] = True
            raise KeyboardInterrupt
