"""The wait loop, with a fake clock: no sleeping, no processes."""
import pytest

from lib import status
from lib.errors import ProbeError
from lib.run import Clock, wait_for_start


class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


def poller(states, clock, cost=0.07):
    """Answers the given states in order (the last one for ever); each poll costs `cost` seconds."""
    seen = []

    def poll():
        clock.t += cost
        state = states[min(len(seen), len(states) - 1)]
        seen.append(state)
        return state
    return poll, seen


def wait(states, start_timeout=60.0):
    clock = FakeClock()
    notices = []
    poll, seen = poller(states, clock)
    state = wait_for_start(poll, start_timeout, Clock(clock.now, clock.sleep), lambda s, e: notices.append((s, e)))
    return state, clock, notices, seen


def test_returns_at_the_first_running_state_polling_fast_at_first():
    creating = status.State("waiting", "ContainerCreating")
    state, clock, notices, seen = wait([status.State("absent"), creating, status.State("running")])
    assert state.phase == "running" and len(seen) == 3
    assert clock.sleeps[0] <= 0.25 and notices == []


def test_backs_off_to_one_second():
    clock = FakeClock()
    poll, _ = poller([status.State("waiting", "ContainerCreating")] * 40 + [status.State("running")], clock)
    wait_for_start(poll, 60, Clock(clock.now, clock.sleep), lambda s, e: None)
    assert max(clock.sleeps) == 1.0 and clock.sleeps[-5:] == [1.0] * 5
    assert clock.sleeps[:4] == sorted(clock.sleeps[:4]) and clock.sleeps[0] <= 0.25


def test_fails_within_one_poll_of_a_fatal_state():
    state, _, _, seen = wait([status.State("waiting", "ContainerCreating"), status.State("failed", "ErrImagePull"),
                              status.State("failed", "ImagePullBackOff")])
    assert state.reason == "ErrImagePull" and len(seen) == 2


def test_tells_the_user_once_after_two_seconds():
    state, clock, notices, seen = wait([status.State("waiting", "ContainerCreating")] * 12 + [status.State("running")])
    assert len(notices) == 1
    assert notices[0][0].reason == "ContainerCreating" and 2.0 <= notices[0][1] < 2.2


@pytest.mark.parametrize("last, says", [
    (status.State("absent"), "the kubelet has not reported it"),
    (status.State("waiting", "ContainerCreating"), "it is still ContainerCreating"),
])
def test_start_deadline(last, says):
    with pytest.raises(ProbeError) as info:
        wait([last], start_timeout=5)
    assert "did not start within 5s" in info.value.message and says in info.value.message
    assert "--start-timeout" in info.value.hint


def test_deadline_is_kept_even_with_slow_polls():
    clock = FakeClock()
    poll, seen = poller([status.State("absent")], clock, cost=0.9)
    with pytest.raises(ProbeError):
        wait_for_start(poll, 3, Clock(clock.now, clock.sleep), lambda s, e: None)
    assert clock.t < 3 + 1.0 + 0.9
