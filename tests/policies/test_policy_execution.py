"""What the robot is sent of each predicted chunk, from tables worked by hand and without torch: which
action each execution mode sends, the predicted stop and its threshold, clamping to the limits, rounding
to the command resolution, and the stop on a non-finite output. Chunks are given in key units (1.15 is a
full press) and `to_robot` is the identity, so every expected command can be read off the table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies.execution import ChunkExecutor, is_stop

FULL = (1.15, 1.15, 1.15)


def _executor(execution: str = "first", **changes) -> ChunkExecutor:
    settings = {
        "execution": execution,
        "horizon": 3,
        "limits": FULL,
        "to_robot": lambda values: np.asarray(values, np.float32),
        "discrete": False,
        "predicts_stop": False,
        "stop_below": 0.1,
        "command_resolution": 0.0,
        "ensemble_decay": 0.0,
        "ensemble_weighting": "newest",
    }
    return ChunkExecutor(**{**settings, **changes})


def _forward(*xs: float) -> np.ndarray:
    """A chunk moving forward at `xs` (one action per step), no sideways motion, no turn."""
    return np.asarray([[x, 0.0, 0.0] for x in xs], np.float32)


def _run(executor: ChunkExecutor, chunks: list[np.ndarray]):
    return [executor.execute(chunk, 1.0, step) for step, chunk in enumerate(chunks)]


CHUNKS = [_forward(0.1, 0.2, 0.3), _forward(0.4, 0.5, 0.6), _forward(0.7, 0.8, 0.9), _forward(1.0, 1.1, 1.2)]


@pytest.mark.parametrize(
    ("execution", "sent_x", "fresh"),
    [
        # the first action of every new chunk
        ("first", [0.1, 0.4, 0.7, 1.0], [True, True, True, True]),
        # the whole first chunk, then the fourth (the second and third are predicted but not executed)
        ("chunk", [0.1, 0.2, 0.3, 1.0], [True, False, False, True]),
        # plain average of what each chunk predicted for now (decay 0): step 1 (0.2 + 0.4) / 2,
        # step 2 (0.3 + 0.5 + 0.7) / 3, step 3 (0.6 + 0.8 + 1.0) / 3 (the first chunk no longer covers it)
        ("ensemble", [0.1, 0.3, 0.5, 0.8], [True, True, True, True]),
    ],
)
def test_each_mode_sends_its_action(execution: str, sent_x: list[float], fresh: list[bool]) -> None:
    steps = _run(_executor(execution), CHUNKS)
    np.testing.assert_allclose([s.command for s in steps], [[x, 0.0, 0.0] for x in sent_x], atol=1e-6)
    assert [s.fresh for s in steps] == fresh
    assert [s.step for s in steps] == [0, 1, 2, 3] and not any(s.stop or s.stop_predicted for s in steps)


def test_chunk_mode_reports_the_chunk_it_plays() -> None:
    steps = _run(_executor("chunk"), CHUNKS)
    for s in steps[:3]:
        np.testing.assert_array_equal(s.actions, CHUNKS[0])
    np.testing.assert_allclose(steps[3].actions, _forward(1.0, 1.1, 1.15))  # clamped to the limit


# Chunks predicted at steps 0, 1, 2 hold 0.0, 0.5 and 1.0 everywhere, decay ln 2: weights halve per
# step of k. Horizon 5, so every chunk still covers step 2.
#   newest (k = age):  step 1: (1 * 0.5 + 1/2 * 0.0) / 1.5 = 1/3
#                      step 2: (1 * 1.0 + 1/2 * 0.5 + 1/4 * 0.0) / 1.75 = 5/7
#   oldest (ACT, k = 0 for the oldest):
#                      step 1: (1 * 0.0 + 1/2 * 0.5) / 1.5 = 1/6
#                      step 2: (1 * 0.0 + 1/2 * 0.5 + 1/4 * 1.0) / 1.75 = 2/7
@pytest.mark.parametrize(
    ("weighting", "expected"), [("newest", [0.0, 1 / 3, 5 / 7]), ("oldest", [0.0, 1 / 6, 2 / 7])]
)
def test_ensemble_weights_worked_by_hand(weighting: str, expected: list[float]) -> None:
    executor = _executor("ensemble", horizon=5, ensemble_decay=math.log(2), ensemble_weighting=weighting)
    chunks = [np.full((5, 3), value, np.float32) for value in (0.0, 0.5, 1.0)]
    got = [s.command for s in _run(executor, chunks)]
    np.testing.assert_allclose(got, [[v] * 3 for v in expected], atol=1e-6)


# Keys of a discrete head: hold, w, a, d (y is left), at a full press.
KEYS = np.asarray([[0.0, 0.0, 0.0], [1.15, 0.0, 0.0], [0.0, 1.15, 0.0], [0.0, -1.15, 0.0]], np.float32)


def _most_probable_key(probabilities: np.ndarray) -> np.ndarray:
    return KEYS[np.asarray(probabilities).argmax(axis=-1)]


def test_discrete_ensemble_averages_probabilities_not_actions() -> None:
    """Step 0's chunk says "a", then "a" (0.5) over "d" (0.4); step 1's says "d" (0.6). Averaged
    probabilities (a 0.4, d 0.5) press "d": never the half press an average of the two presses gives."""
    executor = _executor("ensemble", horizon=2, discrete=True, to_robot=_most_probable_key)
    chunks = [
        np.asarray([[0.05, 0.05, 0.85, 0.05], [0.05, 0.05, 0.50, 0.40]], np.float32),
        np.asarray([[0.05, 0.05, 0.30, 0.60], [0.25, 0.25, 0.25, 0.25]], np.float32),
    ]
    first, second = _run(executor, chunks)
    np.testing.assert_allclose(first.command, [0.0, 1.15, 0.0], atol=1e-6)
    np.testing.assert_allclose(second.command, [0.0, -1.15, 0.0], atol=1e-6)


@pytest.mark.parametrize(
    ("next_action", "stop_below", "predicts_stop", "stops"),
    [
        ((0.05, -0.05, 0.0), 0.1, True, True),  # below on every axis
        ((0.0, 0.0, 0.0), 0.1, True, True),  # a hold
        ((0.1, 0.0, 0.0), 0.1, True, False),  # at the threshold is not below it
        ((0.05, 0.0, 0.2), 0.1, True, False),  # one axis still turning
        ((0.15, 0.0, 0.0), 0.2, True, True),  # a higher threshold
        ((0.0, 0.0, 0.0), 0.0, True, False),  # 0 never stops
        ((0.0, 0.0, 0.0), 0.1, False, False),  # a policy not trained with stop targets goes on
    ],
)
def test_a_stop_the_previous_chunk_predicted_for_now(
    next_action: tuple[float, float, float], stop_below: float, predicts_stop: bool, stops: bool
) -> None:
    """First mode: step 0's chunk says what comes at step 1 (its second action); step 1 stops when that
    is a stop, whatever step 1's own chunk says first (here a full press forward)."""
    executor = _executor(predicts_stop=predicts_stop, stop_below=stop_below)
    previous = np.asarray([[0.5, 0.0, 0.0], next_action, [0.5, 0.0, 0.0]], np.float32)
    newest = _forward(1.15, 1.15, 1.15)
    first, second = _run(executor, [previous, newest])
    np.testing.assert_array_equal(first.command, [0.5, 0.0, 0.0])
    assert second.stop_predicted == stops and second.error is None
    np.testing.assert_allclose(second.command, [0.0, 0.0, 0.0] if stops else [1.15, 0.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(second.actions, newest)  # the chunk is still reported


def test_a_stop_at_the_first_action_of_the_newest_chunk_is_just_a_small_command() -> None:
    """Only the previous chunk's prediction for now counts: step 0 has none, so it sends its first action."""
    step = _executor(predicts_stop=True).execute(_forward(0.05, 0.5, 0.5), 1.0, 0)
    assert not step.stop_predicted
    np.testing.assert_allclose(step.command, [0.05, 0.0, 0.0])


@pytest.mark.parametrize(
    ("action", "below", "stop"),
    [
        ((0.09, -0.09, 0.09), 0.1, True),
        ((0.0, 0.0, -0.1), 0.1, False),
        ((0.0, 0.0, 0.0), 0.0, False),
        ((math.nan, 0.0, 0.0), 0.1, False),  # not finite is an error, not a stop
    ],
)
def test_is_stop(action: tuple[float, float, float], below: float, stop: bool) -> None:
    assert is_stop(np.asarray(action, np.float32), below) is stop


LIMITS = (1.0, 0.5, 0.25)  # different on each axis, so a swapped axis shows


@pytest.mark.parametrize(
    ("action", "sent", "clamped"),
    [
        ((0.9, -0.4, 0.2), (0.9, -0.4, 0.2), False),
        ((1.5, 0.0, 0.0), (1.0, 0.0, 0.0), True),
        ((0.0, -0.7, 0.0), (0.0, -0.5, 0.0), True),
        ((0.0, 0.0, 3.0), (0.0, 0.0, 0.25), True),
        ((-2.0, 2.0, -2.0), (-1.0, 0.5, -0.25), True),
    ],
)
def test_commands_are_clamped_to_the_limits_per_axis(
    action: tuple[float, float, float], sent: tuple[float, float, float], clamped: bool
) -> None:
    chunk = np.asarray([action, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)], np.float32)
    step = _executor(limits=LIMITS).execute(chunk, 1.0, 0)
    np.testing.assert_allclose(step.command, sent, atol=1e-7)
    np.testing.assert_allclose(step.actions[0], sent, atol=1e-7)
    assert step.clamped is clamped


@pytest.mark.parametrize(
    ("execution", "clamped"),
    [
        ("first", [False, False]),  # each step's first action is within the limits
        ("chunk", [False, True]),  # step 1 sends the chunk's second action, which was over
        ("ensemble", [False, True]),  # step 1 averages step 0's second action, which was over
    ],
)
def test_clamped_is_about_the_command_sent_now(execution: str, clamped: list[bool]) -> None:
    chunks = [_forward(0.5, 2.0, 0.5), _forward(0.5, 0.5, 0.5)]
    assert [s.clamped for s in _run(_executor(execution), chunks)] == clamped


@pytest.mark.parametrize(
    ("resolution", "action", "sent"),
    [
        (0.0, (0.1234567, -0.7654321, 0.0), (0.1234567, -0.7654321, 0.0)),  # 0: as computed
        (0.01, (0.1234567, -0.7654321, 0.004), (0.12, -0.77, 0.0)),
        (0.05, (0.1234567, -0.7654321, 0.03), (0.1, -0.75, 0.05)),
        (0.01, (0.337, 0.0, 0.0), (0.337, 0.0, 0.0)),  # limit 0.337: 0.34 would be over it
    ],
)
def test_the_command_sent_is_rounded_to_the_resolution(
    resolution: float, action: tuple[float, float, float], sent: tuple[float, float, float]
) -> None:
    limits = np.asarray((0.337, 1.15, 1.15), np.float32)
    chunk = np.asarray([action, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)], np.float32)
    step = _executor(limits=limits, command_resolution=resolution).execute(chunk, 1.0, 0)
    np.testing.assert_allclose(step.command, sent, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(step.actions, np.clip(chunk, -limits, limits))  # the chunk is not rounded


@pytest.mark.parametrize("execution", ["first", "chunk", "ensemble"])
def test_rounding_applies_in_every_mode(execution: str) -> None:
    step = _executor(execution, command_resolution=0.01).execute(_forward(0.456, 0.0, 0.0), 1.0, 0)
    np.testing.assert_allclose(step.command, [0.46, 0.0, 0.0], rtol=1e-6)


@pytest.mark.parametrize("execution", ["first", "chunk", "ensemble"])
def test_a_non_finite_output_stops_and_forgets_the_chunks_before_it(execution: str) -> None:
    executor = _executor(execution)
    good = _forward(0.3, 0.6, 0.9)
    bad = _forward(0.3, math.nan, 0.9)
    before, stopped, after = _run(executor, [good, bad, _forward(0.1, 0.2, 0.3)])
    assert stopped.stop and "not finite at step 1" in stopped.error and not stopped.clamped
    np.testing.assert_array_equal(stopped.command, np.zeros(3))
    np.testing.assert_array_equal(stopped.actions, np.zeros((3, 3)))
    # the next step starts afresh: no rest of the chunk before the fault, nothing averaged with it
    assert after.fresh and not after.stop
    np.testing.assert_allclose(after.command, [0.1, 0.0, 0.0], atol=1e-7)


def test_reset_forgets_the_chunk_being_played() -> None:
    executor = _executor("chunk")
    executor.execute(_forward(0.1, 0.2, 0.3), 1.0, 0)
    executor.reset()
    step = executor.execute(_forward(0.7, 0.8, 0.9), 1.0, 0)
    assert step.fresh
    np.testing.assert_allclose(step.command, [0.7, 0.0, 0.0], atol=1e-7)
