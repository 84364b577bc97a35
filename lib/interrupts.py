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
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional

_state = {"depth": 0, "pending": False, "fired": False, "at": 0.0}


def _handler(signum: int, frame: Any) -> None:
    if _state["fired"]:
        return   # the first one is being handled: a second must not cut the clean-up short
    if _state["depth"]:
        _state["pending"] = True
        return
    _fire()


def _fire() -> None:
    _state["fired"], _state["at"] = True, time.monotonic()
    raise KeyboardInterrupt


def install() -> None:
    """SIGINT and SIGTERM (a cancelled CI job, kill) both take Ctrl-C's path. A new run (reach
    used in-process, as the tests do) starts with no interrupt on record."""
    _state.update(depth=0, pending=False, fired=False, at=0.0)
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _handler)
    except ValueError:  # not the main thread (reach used as a library)
        pass


_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def deferred() -> Iterator[None]:
    """No KeyboardInterrupt inside; one that arrived meanwhile is raised on the way out.

    The signals are also blocked in the thread that starts the process, so the forked child
    (a copy of reach until it execs kubectl) inherits them blocked: see in_child().
    """
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    main = threading.current_thread() is threading.main_thread()
    if main:   # handlers run in the main thread only: other threads are never interrupted
        _state["depth"] += 1
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if main:
            _state["depth"] -= 1
            if not _state["depth"] and _state["pending"]:
                _state["pending"] = False
                _fire()


def since() -> Optional[float]:
    """Seconds since the interrupt was raised; None when none was (the run is not on its way out)."""
    return time.monotonic() - _state["at"] if _state["fired"] else None


def settle() -> None:
    """After an interruption, on the way out: a late second signal is ignored. Python puts its
    handlers back to the default at exit (which would end reach by that signal, not 130), but
    leaves ignored signals ignored."""
    if _state["fired"] and threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def in_child() -> None:
    """Between fork and exec (sh's _preexec_fn): the child is kubectl-to-be, not reach. A Ctrl-C
    sent to the group then ends it, as it would end kubectl, instead of running reach's handler
    in a copy of reach."""
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
