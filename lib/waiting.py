"""Waiting for the probe container to start: from a watch's events, or by polling.

No processes here: a source hands over container states (see WatchFeed and Polls), and
wait_for_start decides when to stop, when to tell the user, and when to give up. Time is
a parameter, so the tests run it on a fake clock.
"""
from __future__ import annotations

import queue
from typing import Callable, NamedTuple, Optional, Union

from . import status
from .errors import ProbeError

NOTICE_AFTER = 2.0    # seconds of waiting before telling the user what we wait for
FIRST_POLL = 0.1
MAX_POLL = 1.0
SETTLE = 0.15         # how long a running container gets to be reported ended before logs -f
CHECK_EVERY = 5.0     # seconds between safety polls while a watch is quiet past the notice


class Clock(NamedTuple):
    now: Callable[[], float]
    sleep: Callable[[float], None]


class Ended:
    """A source's word that it has no more states (the watch process ended)."""


ENDED = Ended()
Next = Union[status.State, Ended, None]   # None: nothing new within the time given


class WatchFeed:
    """States from `kubectl get --watch`, as its lines arrive (fed from another thread)."""

    def __init__(self) -> None:
        self.states: queue.Queue = queue.Queue()
        self.ended = False

    def put(self, text: str) -> None:
        self.states.put(status.parse(text))

    def close(self) -> None:
        self.ended = True
        self.states.put(ENDED)

    def next(self, timeout: float) -> Next:
        try:
            return self.states.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None


class Polls:
    """States from one `kubectl get -o jsonpath` each, 0.1 s apart at first, backing off to 1 s."""

    def __init__(self, poll: Callable[[], status.State], clock: Clock):
        self.poll = poll
        self.clock = clock
        self.interval: Optional[float] = None   # None: the first poll goes at once

    def next(self, timeout: float) -> Next:
        if self.interval is None:
            self.interval = FIRST_POLL
        else:
            self.clock.sleep(max(min(self.interval, timeout), 0.0))
            self.interval = min(self.interval * 1.5, MAX_POLL)
        return self.poll()


def wait_for_start(source, start_timeout: float, clock: Clock, notify: Callable[[status.State, float], None],
                   fallback: Optional[Callable[[], Polls]] = None,
                   check: Optional[Callable[[], status.State]] = None) -> status.State:
    """The first state that is running, terminated or failed; ProbeError past start_timeout.

    At NOTICE_AFTER seconds `notify` is told the last state seen, once. When the source ends
    (a watch that died), `fallback` supplies the source for the rest of the time. A watch can
    also stall without ending (an idle stream dropped on the way): at the notice and every
    CHECK_EVERY seconds after it, `check` (one poll) is asked too.
    """
    began = clock.now()
    noticed = False
    next_check: Optional[float] = None
    last = status.State("absent")
    while True:
        elapsed = clock.now() - began
        if elapsed >= start_timeout:
            raise start_deadline(last, start_timeout)
        if not noticed and elapsed >= NOTICE_AFTER:
            notify(last, elapsed)
            noticed = True
        if noticed and check and (next_check is None or elapsed >= next_check):
            next_check = elapsed + CHECK_EVERY
            got = check()
            if got.started or got.phase == "failed":
                return got
        due = start_timeout if noticed else min(start_timeout, NOTICE_AFTER)
        if next_check is not None:
            due = min(due, next_check)
        got = source.next(due - elapsed)
        if isinstance(got, Ended):
            if fallback is None:
                raise start_deadline(last, start_timeout)
            source, fallback = fallback(), None
            continue
        if got is None:
            continue
        last = got
        if got.started or got.phase == "failed":
            return got


def settle(feed, state: status.State, clock: Clock, grace: float = SETTLE) -> status.State:
    """A probe of open or refused ports ends within milliseconds of starting: give the watch a
    moment to report the end, whose termination message carries the verdicts (no logs call)."""
    if getattr(feed, "ended", False):  # the watch is gone (the state came from polls)
        return state
    deadline = clock.now() + grace
    while clock.now() < deadline:
        got = feed.next(deadline - clock.now())
        if isinstance(got, status.State) and got.phase in ("terminated", "failed"):
            return got
        if got is None or got is ENDED:
            break
    return state


def start_deadline(state: status.State, start_timeout: float) -> ProbeError:
    if state.phase == "absent":
        why = "the kubelet has not reported it at all"
        hint = "check that the node is Ready and runs Kubernetes 1.25 or newer; or raise --start-timeout"
    else:
        why = "it is still %s" % (state.reason or state.phase)
        hint = "the node may be pulling a large image: raise --start-timeout, or use a smaller --image"
    return ProbeError("the probe container did not start within %gs: %s" % (start_timeout, why), hint)
