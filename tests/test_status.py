import pytest

from conftest import fixture_calls
from lib import status


def recorded_states(name):
    """The states a fixture's watch reports (its lines are "RESOURCEVERSION STATE")."""
    watch = next(c for c in fixture_calls(name) if "--watch" in c["argv"])
    return [line.partition(" ")[2] for line in watch["stdout"].splitlines()]


def test_states_from_a_recorded_start():
    states = [status.parse(s) for s in recorded_states("open")]
    assert [s.phase for s in states] == ["absent", "absent", "waiting", "terminated"]
    assert states[2].reason == "ContainerCreating" and states[-1].exit_code == 0 and states[-1].started


def test_image_pull_failure_is_fatal_at_once():
    state = status.parse(recorded_states("image-pull-failure")[-1])
    assert (state.phase, state.reason) == ("failed", "ErrImagePull")
    assert "registry.invalid/doesnotexist:1" in state.message
    assert "imagePullSecrets" in status.failure_hint(state, "registry.invalid/doesnotexist:1")


def test_start_error_is_fatal():
    state = status.parse(recorded_states("start-error")[-1])
    assert (state.phase, state.reason, state.exit_code) == ("failed", "StartError", 128)
    assert "busybox:1.36" in status.failure_hint(state, "x")


@pytest.mark.parametrize("text, phase", [
    ("", "absent"),
    ('{"running":{"startedAt":"2026-11-22T11:18:38Z"}}', "running"),
    ('{"waiting":{"reason":"ImagePullBackOff","message":"Back-off"}}', "failed"),
    ('{"waiting":{"reason":"CreateContainerConfigError","message":"container has runAsNonRoot and image will run '
     'as root"}}', "failed"),
    ('{"waiting":{"reason":"InvalidImageName"}}', "failed"),
    ('{"waiting":{"reason":"PodInitializing"}}', "waiting"),
    ('{"terminated":{"exitCode":137,"reason":"OOMKilled"}}', "terminated"),
    ("not json", "absent"),
])
def test_parse(text, phase):
    assert status.parse(text).phase == phase


@pytest.mark.parametrize("reason, message, says", [
    ("InvalidImageName", "", "not a valid image reference"),
    ("ErrImageNeverPull", "", "use IfNotPresent"),
    ("CreateContainerConfigError", "container's runAsUser breaks non-root policy", "cannot run as non-root"),
    ("RunContainerError", "boom", "kubectl describe pod"),
])
def test_failure_hints(reason, message, says):
    assert says in status.failure_hint(status.State("failed", reason, message), "img")
