"""Waiting for the container to start, on a fake clock: no sleeping, no processes."""
import pytest

from lib import status
from lib.errors import ProbeError
from lib.waiting import ENDED, Clock, Polls, WatchFeed, settle, wait_for_start

CREATING = status.State("waiting", "ContainerCreating")
RUNNING = status.State("running")


class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds

    def clock(self):
        return Clock(self.now, self.sleep)


def poller(states, clock, cost=0.07):
    """Answers the given states in order (the last one for ever); each poll costs `cost` seconds."""
    seen = []

    def poll():
        clock.t += cost
        state = states[min(len(seen), len(states) - 1)]
        seen.append(state)
        return state
    return poll, seen


class Events:
    """A watch: states at given times (ENDED for the process's end)."""

    def __init__(self, clock, events):
        self.clock, self.events = clock, list(events)

    def next(self, timeout):
        if self.events and self.events[0][0] <= self.clock.t + timeout:
            at, state = self.events.pop(0)
            self.clock.t = max(self.clock.t, at)
            return state
        self.clock.t += timeout
        return None


def wait_polling(states, start_timeout=60.0, cost=0.07):
    clock = FakeClock()
    notices = []
    poll, seen = poller(states, clock, cost)
    state = wait_for_start(Polls(poll, clock.clock()), start_timeout, clock.clock(),
                           lambda s, e: notices.append((s, e)))
    return state, clock, notices, seen


def test_polls_return_at_the_first_running_state_polling_fast_at_first():
    state, clock, notices, seen = wait_polling([status.State("absent"), CREATING, RUNNING])
    assert state.phase == "running" and len(seen) == 3
    assert clock.sleeps[0] <= 0.25 and notices == []


def test_polls_back_off_to_one_second():
    _, clock, _, _ = wait_polling([CREATING] * 40 + [RUNNING])
    assert max(clock.sleeps) == 1.0 and clock.sleeps[-5:] == [1.0] * 5
    assert clock.sleeps[:4] == sorted(clock.sleeps[:4]) and clock.sleeps[0] <= 0.25


def test_fails_within_one_poll_of_a_fatal_state():
    state, _, _, seen = wait_polling([CREATING, status.State("failed", "ErrImagePull"),
                                      status.State("failed", "ImagePullBackOff")])
    assert state.reason == "ErrImagePull" and len(seen) == 2


def test_tells_the_user_once_at_two_seconds():
    _, _, notices, _ = wait_polling([CREATING] * 12 + [RUNNING])
    assert len(notices) == 1
    assert notices[0][0].reason == "ContainerCreating" and 2.0 <= notices[0][1] < 2.2


@pytest.mark.parametrize("last, says", [
    (status.State("absent"), "the kubelet has not reported it"),
    (CREATING, "it is still ContainerCreating"),
])
def test_start_deadline(last, says):
    with pytest.raises(ProbeError) as info:
        wait_polling([last], start_timeout=5)
    assert "did not start within 5s" in info.value.message and says in info.value.message
    assert "--start-timeout" in info.value.hint


def test_deadline_is_kept_even_with_slow_polls():
    with pytest.raises(ProbeError):
        wait_polling([status.State("absent")], start_timeout=3, cost=0.9)


def test_watch_events_end_the_wait_when_they_come():
    clock = FakeClock()
    events = Events(clock, [(0.05, status.State("absent")), (0.4, CREATING), (0.93, RUNNING)])
    state = wait_for_start(events, 60, clock.clock(), lambda s, e: None)
    assert state.phase == "running" and clock.t == pytest.approx(0.93)
    assert clock.sleeps == []   # no polling: the watch's own pace


def test_a_quiet_watch_still_gets_the_notice_and_the_deadline():
    clock = FakeClock()
    notices = []
    with pytest.raises(ProbeError) as info:
        wait_for_start(Events(clock, [(0.3, CREATING)]), 10, clock.clock(), lambda s, e: notices.append((s, e)))
    assert [(s.reason, e) for s, e in notices] == [("ContainerCreating", 2.0)]
    assert "it is still ContainerCreating" in info.value.message and clock.t == pytest.approx(10)


def test_a_watch_that_ends_hands_over_to_polls():
    clock = FakeClock()
    poll, seen = poller([CREATING, RUNNING], clock)
    state = wait_for_start(Events(clock, [(0.1, ENDED)]), 60, clock.clock(), lambda s, e: None,
                           fallback=lambda: Polls(poll, clock.clock()))
    assert state.phase == "running" and len(seen) == 2


def test_watch_feed_parses_lines_and_reports_its_end():
    feed = WatchFeed()
    feed.put('{"waiting":{"reason":"ContainerCreating"}}')
    feed.put("")
    feed.close()
    assert feed.next(0).reason == "ContainerCreating"
    assert feed.next(0).phase == "absent"
    assert feed.next(0) is ENDED
    assert feed.next(0.01) is None


def test_settle_takes_an_end_reported_within_the_grace():
    clock = FakeClock()
    ended = status.State("terminated", "Completed", "reach[done] 0", 0)
    assert settle(Events(clock, [(0.05, ended)]), RUNNING, clock.clock()) is ended
    assert clock.t == pytest.approx(0.05)


def test_settle_keeps_running_when_the_watch_stays_quiet():
    clock = FakeClock()
    assert settle(Events(clock, [(0.5, status.State("terminated"))]), RUNNING, clock.clock()) is RUNNING
    assert clock.t == pytest.approx(0.15)


def test_a_stalled_watch_is_checked_by_a_poll_every_few_seconds():
    clock = FakeClock()
    checks = []

    def check():
        checks.append(clock.t)
        return RUNNING if clock.t >= 9 else CREATING
    state = wait_for_start(Events(clock, [(0.2, CREATING)]), 60, clock.clock(), lambda s, e: None, check=check)
    assert state is RUNNING
    assert checks == [pytest.approx(2.0), pytest.approx(7.0), pytest.approx(12.0)]


def test_settle_does_not_wait_on_a_watch_that_is_gone():
    feed = WatchFeed()
    feed.close()
    clock = FakeClock()
    assert settle(feed, RUNNING, clock.clock()) is RUNNING and clock.t == 0
