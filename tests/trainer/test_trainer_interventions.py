"""Learning from the operator's takeovers: the index knows who drove each step and where the takeovers
are, the steps are weighted as the data config says (`trainer.data.step_weights`), the weights reach the
batch, episodes without intervention data train as before, validation reports the operator's steps
apart, and the intervention rate is in the train log, TensorBoard and `mvla eval --data`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mvla_tui.cli import main
from policies.batch import collate
from recorder.catalogue import load_catalogue
from recorder.episode import EpisodeMeta
from recorder.intervention import FrameAnnotation
from recorder.writer import EpisodeWriter
from tests.recorder.recorder_builders import intervention_record, rgb_frames
from tests.trainer.trainer_helpers import train_config, write_episode, write_folder
from trainer.config import DataConfig, load_train_config
from trainer.data import EpisodeDataset, normalisation_from, step_weights
from trainer.index import INDEX_VERSION, build_index, takeovers_per_100_steps
from trainer.loop import train

P, OP = "policy", "operator"
# The steps of `intervention_record`: frames 1, 2, 3, 5, 6 (frame 4 is a stop, frame 0 the start);
# the takeover is frame 3, the third step.
RECORD_SOURCES = (P, P, OP, P, P)
RECORD_TAKEOVERS = (2,)


@pytest.mark.parametrize(
    ("sources", "takeovers", "successful", "settings", "want"),
    [
        # defaults: operator 2.0, the 2 policy steps before a takeover 0.0, the other policy steps 1.0
        (RECORD_SOURCES, RECORD_TAKEOVERS, True, {}, [0, 0, 2, 1, 1]),
        ((P, P, P, P, OP, OP), (4,), True, {}, [1, 1, 0, 0, 2, 2]),
        ((P, P, P, P, OP, OP), (4,), True, {"pre_takeover_frames": 1}, [1, 1, 1, 0, 2, 2]),
        ((P, P, P, P, OP, OP), (4,), True, {"pre_takeover_frames": 0}, [1, 1, 1, 1, 2, 2]),
        ((P, P, P, P, OP, OP), (4,), True, {"pre_takeover_weight": 0.5}, [1, 1, 0.5, 0.5, 2, 2]),
        ((P, P, P, P, OP, OP), (4,), True, {"intervention_weight": 3.0}, [1, 1, 0, 0, 3, 3]),
        ((P, P, P, P, OP, OP), (4,), True, {"policy_frames": "drop"}, [0, 0, 0, 0, 2, 2]),
        # an episode that did not reach its goal shows no good driving of the policy's
        ((P, P, P, P, OP, OP), (4,), False, {"pre_takeover_weight": 0.5}, [0, 0, 0.5, 0.5, 2, 2]),
        # operator steps inside the pre-takeover span keep their weight; two takeovers
        ((OP, P, OP, P, P, OP), (2, 5), True, {}, [2, 0, 2, 0, 0, 2]),
        # the operator drove from the start (frame 0's step), the policy took over, no takeover after
        ((OP, OP, P, P), (), True, {}, [2, 2, 1, 1]),
    ],
)
def test_step_weights(sources, takeovers, successful, settings, want) -> None:
    got = step_weights(sources, takeovers, successful, DataConfig(**settings))
    assert got is not None and got.dtype == np.float32
    assert got.tolist() == want


def test_no_intervention_data_means_no_weights() -> None:
    assert step_weights((), (), True, DataConfig(intervention_weight=5.0, policy_frames="drop")) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [("intervention_weight", -1.0), ("pre_takeover_weight", float("nan")), ("pre_takeover_frames", -1)],
)
def test_bad_weight_settings_name_the_key(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"data.{key}"):
        DataConfig(**{key: value})


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Four intervention episodes (scenario 1box_left) and four plain ones (other scenarios)."""
    folder = tmp_path_factory.mktemp("mixed")
    for _ in range(4):
        intervention_record(folder)
    for i in range(4):
        write_episode(folder, i, steps=5, scenario=("1box_right", "2box_left")[i % 2])
    return folder


def test_index_records_sources_and_takeover_steps(mixed: Path, tmp_path: Path) -> None:
    cache = tmp_path / "index.json"
    index = build_index([mixed], load_catalogue(), cache=cache)
    assert json.loads(cache.read_text())["version"] == INDEX_VERSION == 3
    taken = [e for e in index.episodes if e.intervention]
    plain = [e for e in index.episodes if not e.intervention]
    assert len(taken) == 4 and len(plain) == 4
    assert {(e.sources, e.takeover_steps, e.steps) for e in taken} == {(RECORD_SOURCES, RECORD_TAKEOVERS, 5)}
    assert all(e.sources == () and e.takeover_steps == () for e in plain)
    # 4 takeovers in 20 steps of intervention episodes; the plain episodes' steps do not count
    assert takeovers_per_100_steps(index.episodes) == pytest.approx(20.0)
    assert takeovers_per_100_steps(plain) is None
    again = build_index([mixed], load_catalogue(), cache=cache)  # from the cache: the same records
    assert again.episodes == index.episodes


def test_a_policy_press_the_operator_stopped_becomes_the_operators_stop(tmp_path: Path) -> None:
    meta = EpisodeMeta(scenario="1box_left", pattern="core", distance="medium", robot="sim", camera="test")
    frames, forward = rgb_frames(5), np.array([1.15, 0.0, 0.0], np.float32)
    rows = [  # frame 0, two policy presses, the operator's stop of the second, the operator's key
        ("episode_start", np.zeros(3), FrameAnnotation("operator")),
        ("start_action", forward, FrameAnnotation("policy", (1.15, 0.0, 0.0))),
        ("start_action", forward, FrameAnnotation("policy", (1.15, 0.0, 0.0))),
        ("stop_action", np.zeros(3), FrameAnnotation("operator")),
        ("start_action", np.array([0.0, 1.15, 0.0], np.float32), FrameAnnotation("operator")),
    ]
    with EpisodeWriter(tmp_path, meta) as writer:
        for i, (event, action, note) in enumerate(rows):
            writer.append(frames[i], action, event, 0.5 * i, note)
        writer.finish("success")
    (record,) = build_index([tmp_path], load_catalogue()).episodes
    assert record.sources == (P, OP, OP)
    np.testing.assert_array_equal(
        record.step_actions(), np.array([forward, [0, 0, 0], [0, 1.15, 0]], np.float32)
    )
    assert record.takeover_steps == (2,)  # the stop is the takeover, after the second step
    assert list(step_weights(record.sources, record.takeover_steps, True, DataConfig())) == [0, 2, 2]


def test_the_dataset_weighs_intervention_episodes_and_collate_weighs_each_target(mixed: Path) -> None:
    records = build_index([mixed], load_catalogue()).episodes
    norm = normalisation_from(records, "data", 3)
    dataset = EpisodeDataset(records, norm, None, 0, weighting=DataConfig())
    items = [dataset[(0, i)] for i in range(len(records))]
    assert [it.weights.tolist() if it.weights is not None else None for it in items].count(
        [0, 0, 2, 1, 1]
    ) == 4
    assert sum(it.weights is None for it in items) == 4  # plain episodes: unweighted, as before
    unweighted = EpisodeDataset(records, norm, None, 0)  # no weighting: what validation reads
    assert all(unweighted[(0, i)].weights is None for i in range(len(records)))

    taken = next(it for it in items if it.weights is not None)
    plain = next(it for it in items if it.weights is None)
    batch = collate([taken, plain], None if taken.frames is None else _identity, window=2, horizon=3)
    assert batch.weights is not None and batch.weights.shape == batch.mask.shape
    # window k of the intervention episode starts at step k; its step t predicts chunk[j] = step k+t+j
    step = np.array([0, 0, 2, 1, 1, 1, 1, 1], np.float32)  # past the end: stop targets weigh 1
    for k in range(4):
        for t in range(2):
            want = step[k + t : k + t + 3]
            assert batch.weights[k, t].tolist() == want.tolist(), (k, t)
    assert batch.weights[4:].eq(1).all()  # the plain episode's windows
    assert collate([plain], _identity, window=2, horizon=3).weights is None


def _identity(frames: np.ndarray):
    import torch

    return torch.zeros(len(frames), 3, 2, 2)


def test_plain_episodes_train_bit_for_bit_whatever_the_weight_settings(tmp_path: Path) -> None:
    data = tmp_path / "plain"
    write_folder(data, 4, steps=4)
    a = train(load_train_config(train_config(tmp_path / "a", [data], steps=3)), log=lambda _: None)
    settings = {
        "data__intervention_weight": 7.0,
        "data__policy_frames": "drop",
        "data__pre_takeover_weight": 3.0,
    }
    b = train(
        load_train_config(train_config(tmp_path / "b", [data], steps=3, **settings)), log=lambda _: None
    )
    assert a.losses == b.losses and len(a.losses) == 3
    assert a.takeovers_per_100_steps is None


def test_weights_change_training_on_intervention_episodes(mixed: Path, tmp_path: Path) -> None:
    a = train(load_train_config(train_config(tmp_path / "a", [mixed], steps=2)), log=lambda _: None)
    b = train(
        load_train_config(train_config(tmp_path / "b", [mixed], steps=2, data__intervention_weight=1.0)),
        log=lambda _: None,
    )
    assert a.losses[1] != b.losses[1]


def test_validation_reports_the_operator_steps_and_the_rate_is_logged(mixed: Path, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    lines: list[str] = []
    config = load_train_config(
        train_config(tmp_path, [mixed], steps=2, eval_every=1, tensorboard=True, data__val_fraction=0.5)
    )
    result = train(config, log=lines.append)
    assert result.takeovers_per_100_steps == pytest.approx(20.0)
    assert any(
        "intervention data: 2 of 4 training episodes, 20.0 takeovers per 100 steps" in x for x in lines
    )
    record = result.validations[2].record()
    assert record["val_operator_steps"] == 2.0  # one operator step in each of 2 held-out episodes
    assert {"val_operator_accuracy_0.1", "val_operator_accuracy_0.3", "val_operator_mae_linear_x"} <= set(
        record
    )
    assert list(record)[0] == "val_loss"
    logged = [json.loads(x) for x in (Path(config.output) / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in logged if "val_operator_steps" in x] == [1, 2]
    events = EventAccumulator(str(Path(config.output) / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"data/takeovers_per_100_steps", "val/operator_accuracy_0.1", "val/loss"} <= tags
    assert events.Scalars("data/takeovers_per_100_steps")[0].value == pytest.approx(20.0)

    # without operator steps in the validation split, no operator metrics
    plain = tmp_path / "plain"
    write_folder(plain, 4, steps=4, scenario="1box_left")
    quiet = train(
        load_train_config(train_config(tmp_path / "q", [plain], steps=1, data__val_fraction=0.5)),
        log=lambda _: None,
    )
    assert not any(k.startswith("val_operator") for k in quiet.validations[1].record())


def test_eval_data_prints_the_intervention_rate(mixed: Path, tmp_path: Path, capsys) -> None:
    result = train(load_train_config(train_config(tmp_path, [mixed], steps=1)), log=lambda _: None)
    assert result.final is not None
    capsys.readouterr()
    argv = ["eval", "--data", str(mixed), "--policy", str(result.final), "--split", "all"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["takeovers_per_100_steps"] == pytest.approx(20.0)
    assert report["intervention_episodes"] == 4
    assert main(argv) == 0
    assert "intervention data: 4 of 8 episodes, 20.0 takeovers per 100 steps" in capsys.readouterr().out
