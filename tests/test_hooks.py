"""The pieces around the training step, each on its own with a stand-in trainer: the
learning-rate schedule, the α warm-up, the metrics log and the checkpointer."""

import itertools
import json
import math
from types import SimpleNamespace

import pytest
import torch

from noisybox.errors import NoisyboxError
from noisybox.training.hooks import (
    AlphaWarmup,
    Checkpointer,
    LearningRateSchedule,
    MetricsLog,
    StepContext,
    learning_rate,
)
from noisybox.training.trainer import StepResult


def test_learning_rate_warms_up_linearly_then_decays_to_zero_by_cosine():
    rates = [learning_rate(step, 1.0, 4, 12) for step in range(14)]
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert rates[4] == 1.0 and rates[8] == pytest.approx(0.5)  # half-way through the cosine
    assert rates[12] == pytest.approx(0.0, abs=1e-12) and rates[13] == rates[12]  # held at 0
    assert all(a >= b for a, b in itertools.pairwise(rates[4:]))


class FakeTrainer(SimpleNamespace):
    """What hooks read of a trainer: step, world, optimizer, model.positive_iou, ..."""

    def __init__(self, **kwargs):
        recorder = SimpleNamespace(
            armed=0, arm=lambda: None, take=lambda: {"positive_iou_p50": 0.5}
        )
        super().__init__(step=0, world=1, model=SimpleNamespace(positive_iou=recorder), **kwargs)
        self.saved: list[int] = []

    def save_checkpoint(self):
        self.saved.append(self.step)

    def mean_over_ranks(self, losses):
        return {name: float(value) for name, value in losses.items()}


def run_steps(trainer, hooks, steps, loss=1.0):
    for hook in hooks:
        hook.before_train(trainer)
    contexts = []
    for _ in range(steps):
        context = StepContext(step=trainer.step, images=4)
        for hook in hooks:
            hook.before_step(trainer, context)
        trainer.step += 1
        result = StepResult({"box": torch.tensor(loss)}, torch.tensor(loss), skipped=False)
        for hook in hooks:
            hook.after_step(trainer, context, result)
        contexts.append(context)
    for hook in hooks:
        hook.after_train(trainer)
    return contexts


def test_schedule_sets_every_group_and_reports_the_rate():
    optimizer = SimpleNamespace(param_groups=[{"lr": 0.0}, {"lr": 0.0}])
    contexts = run_steps(FakeTrainer(optimizer=optimizer), [LearningRateSchedule(2.0, 2, 4)], 2)
    assert [c.values["lr"] for c in contexts] == [1.0, 2.0]
    assert [g["lr"] for g in optimizer.param_groups] == [2.0, 2.0]


def test_alpha_warmup_sets_the_loss_attributes_step_by_step():
    loss = SimpleNamespace(alpha=3.0, alpha_penalty=3.0)
    hook = AlphaWarmup(loss, {"alpha": 3.0, "alpha_penalty": 2.0}, warmup=2)
    contexts = run_steps(FakeTrainer(), [hook], 3)
    assert [c.values["alpha"] for c in contexts] == [1.0, 2.0, 3.0]
    assert [c.values["alpha_penalty"] for c in contexts] == [1.0, 1.5, 2.0]
    assert (loss.alpha, loss.alpha_penalty) == (3.0, 2.0)


def test_metrics_log_writes_every_nth_and_the_last_step(tmp_path):
    seen = []
    hook = MetricsLog(tmp_path / "metrics.jsonl", log_every=2, total=5, on_step=seen.append)
    contexts = run_steps(FakeTrainer(), [hook], 5)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 5]
    assert [c.logged for c in contexts] == [False, True, False, True, True]
    assert records[0]["box"] == 1.0 and records[0]["positive_iou_p50"] == 0.5
    assert [s["eta_s"] >= 0 for s in seen] == [True] * 3 and seen[-1]["total"] == 5


def test_metrics_log_stops_a_run_whose_loss_is_not_finite(tmp_path):
    hook = MetricsLog(tmp_path / "metrics.jsonl", log_every=1, total=3, on_step=lambda _: None)
    with pytest.raises(NoisyboxError, match="became nan by step 1"):
        run_steps(FakeTrainer(), [hook], 1, loss=math.nan)


def test_checkpointer_saves_every_nth_and_the_last_step():
    trainer = FakeTrainer()
    run_steps(trainer, [Checkpointer(every=3, total=7)], 7)
    assert trainer.saved == [3, 6, 7]


def test_tensorboard_writes_the_logged_records_and_closes(tmp_path, monkeypatch):
    """Only logged steps are written, each value of the record but its step, as
    ``train/NAME`` at the trainer's step; the writer is closed at the end."""
    import torch.utils.tensorboard

    from noisybox.training.hooks import TensorBoard

    written, closed = [], []

    class Writer:
        def __init__(self, folder):
            self.folder = folder

        def add_scalar(self, tag, value, step):
            written.append((tag, value, step))

        def close(self):
            closed.append(self.folder)

    monkeypatch.setattr(torch.utils.tensorboard, "SummaryWriter", Writer)
    log = MetricsLog(tmp_path / "metrics.jsonl", log_every=2, total=3, on_step=lambda _: None)
    board = TensorBoard(tmp_path / "tb")
    run_steps(FakeTrainer(), [log, board], 3)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {tag for tag, _, _ in written} == {f"train/{name}" for name in records[0]} - {
        "train/step"
    }
    assert "train/loss" in {tag for tag, _, _ in written}
    assert sorted({step for _, _, step in written}) == [2, 3]
    assert ("train/loss", 1.0, 2) in written and closed == [str(tmp_path / "tb")]


def test_tensorboard_without_its_package_is_named(tmp_path, monkeypatch):
    import sys

    from noisybox.training.hooks import TensorBoard

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(
        NoisyboxError, match=r"^tensorboard needs the tensorboard package"
    ) as raised:
        TensorBoard(tmp_path / "tb").before_train(FakeTrainer())
    assert raised.value.parameter == "tensorboard"


def test_metrics_log_counts_throughput_eta_and_skipped_steps(tmp_path, monkeypatch):
    """On a clock that ticks 2 s a call: images/s over every process's images since the
    start, the ETA from the steps left at the pace so far (from the step a resumed run
    began at), the skipped steps so far; the file is closed at the end."""
    import noisybox.training.hooks as hooks

    ticks = itertools.count(start=100.0, step=2.0)
    monkeypatch.setattr(hooks.time, "perf_counter", lambda: next(ticks))
    seen = []
    hook = MetricsLog(tmp_path / "metrics.jsonl", log_every=2, total=10, on_step=seen.append)
    trainer = FakeTrainer()
    trainer.step, trainer.world = 4, 3  # resumed at step 4, three processes
    hook.before_train(trainer)  # clock 100
    for skipped in (True, False, True, False):
        context = StepContext(step=trainer.step, images=5)
        hook.before_step(trainer, context)
        trainer.step += 1
        result = StepResult({"box": torch.tensor(1.0)}, torch.tensor(1.0), skipped=skipped)
        hook.after_step(trainer, context, result)
    hook.after_train(trainer)
    # logged at steps 6 (clock 102) and 8 (clock 104)
    assert [r["step"] for r in seen] == [6, 8]
    assert [r["images_per_s"] for r in seen] == [2 * 5 * 3 / 2, 4 * 5 * 3 / 4]
    assert [r["skipped_steps"] for r in seen] == [1, 2]
    assert [r["processes"] for r in seen] == [3, 3]
    assert [r["eta_s"] for r in seen] == [(10 - 6) * 2 / 2, (10 - 8) * 4 / 4]
    assert hook.file.closed


def test_the_learning_rate_reaches_zero_at_the_last_step():
    assert learning_rate(3, 1.0, 3, 4) == pytest.approx(1.0)  # the first step after warm-up
    assert learning_rate(4, 1.0, 3, 4) == pytest.approx(0.0)  # one step of decay: done
    assert learning_rate(9, 1.0, 3, 4) == pytest.approx(0.0)
