"""``noisybox bench`` and ``noisybox report``: the grid, its store, resuming, shards, reports."""

import json
import os
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from noisybox.cli import main

from noisybox.benchmark.events import GridLog, RunDone, RunStep
from noisybox.benchmark.grid import expand_grid, normalize_loss, parse_shard, select_shard
from noisybox.benchmark.runner import run_grid
from noisybox.benchmark.store import append_record, read_records, time_outside_training
from noisybox.errors import NoisyboxError
from noisybox.report.plots import training_curves
from noisybox.report.tables import METRICS, load_results, render, robustness_table
from noisybox.shapes import ShapesConfig, make_shapes_dataset
from noisybox.training.trainer import TrainConfig, data_from_folder

from .datasets import make_voc_year, make_yolo_dataset

TOY = ShapesConfig(images=20, image_size=64, min_size=10, max_size=28, max_shapes=3)
GRID = {"losses": ["iou", "alpha-iou"], "etas": [0.0, 0.2], "fractions": [1.0], "seeds": [0]}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "shapes"
    make_shapes_dataset(folder, TOY, seed=1)
    return folder


def base_config(shapes, **overrides):
    settings = dict(
        **data_from_folder(shapes),
        image_size=64,
        batch_size=4,
        max_steps=3,
        warmup_steps=1,
        device="cpu",
        deterministic=True,
        log_every=1,
        checkpoint_every=1,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def whole_grid(shapes, tmp_path_factory):
    """The tiny grid run without interruption: the reference of resuming and sharding."""
    out = tmp_path_factory.mktemp("whole")
    run_grid(base_config(shapes), expand_grid(**GRID), out)
    return {r["run_id"]: r["metrics"] for r in read_records(out)[0]}


def test_grid_names_order_and_shards():
    assert normalize_loss("Alpha-DIoU:2.5") == "alpha-diou:2.5"
    assert normalize_loss("alpha-iou:3") == "alpha-iou"  # the registry's own α
    for bad, message in (
        ("iou:2", "use 'alpha-iou' \\(alpha-iou:2\\)"),
        ("focal", "unknown loss"),
        ("l1:2", "takes no alpha"),
        ("alpha-iou:x", "not a number"),
    ):
        with pytest.raises(NoisyboxError, match=message):
            normalize_loss(bad)
    runs = expand_grid(["iou", "alpha-iou", "iou"], [0.2, 0.0], [0.5, 1.0], [1, 0])
    assert len(runs) == 2 * 2 * 2 * 2  # the repeated iou counted once
    assert runs[0].run_id == "frac1-eta0-seed1-iou"  # largest fraction, lowest η first
    assert runs[1].run_id == "frac1-eta0-seed1-alpha-iou"  # losses of one file together
    assert expand_grid(["alpha-diou:2.5"], [0.1], [1], [0])[0].run_id.endswith("alpha-diou@2.5")
    for total in range(1, 6):
        parts = [select_shard(runs, part, total) for part in range(1, total + 1)]
        assert sorted(run for part in parts for run in part) == sorted(runs)
        assert len({run for part in parts for run in part}) == len(runs)  # disjoint
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "1", "a/b"):
        with pytest.raises(NoisyboxError, match=r"^shard"):
            parse_shard(bad)
    with pytest.raises(NoisyboxError, match=r"^fraction"):
        expand_grid(["iou"], [0.0], [0.0], [0])


def test_time_outside_training_on_numbers_known_in_advance():
    """run 10 s = setup 1 + steps 6 + evaluation 2 + 1 more: 2 s outside; an old record
    without setup_s counts only what is left after train_s and eval_s; a record without
    times is skipped."""
    records = [
        {"run_s": 10.0, "train_s": 7.0, "setup_s": 1.0, "eval_s": 2.0},
        {"run_s": 5.0, "train_s": 3.0, "eval_s": 1.5},
        {"run_s": None, "train_s": 3.0, "eval_s": 1.0},
    ]
    assert time_outside_training(records) == (2.5, 15.0)


def test_store_never_reads_a_half_written_record(tmp_path):
    path = tmp_path / "results" / "results.jsonl"
    record = {"settings": "s", "fraction": 1.0, "eta": 0.0, "seed": 0, "loss": "iou"}
    append_record(path, {**record, "run_id": "a", "metrics": {"mAP": 1.0}})
    with path.open("ab") as handle:  # a crash in the middle of the second record
        handle.write(b'{"run_id": "b", "settings": "s", "metr')
    append_record(path, {**record, "run_id": "c", "metrics": {"mAP": 3.0}})
    append_record(path, {**record, "run_id": "a", "metrics": {"mAP": 9.0}})  # a duplicate
    records, problems = read_records(tmp_path)
    assert [(r["run_id"], r["metrics"]["mAP"]) for r in records] == [("a", 1.0), ("c", 3.0)]
    assert len(problems) == 1 and "results.jsonl:2: an incomplete record" in problems[0]


def test_tiny_grid_end_to_end(tmp_path, shapes, capsys):
    out = tmp_path / "bench"
    args = ["bench", "--data", str(shapes), "--out", str(out), "--device", "cpu"]
    args += ["--loss", "iou", "--loss", "alpha-iou", "--eta", "0", "--eta", "0.2", "--seed", "0"]
    args += ["--max-steps", "2", "--img-size", "64", "--batch-size", "4"]
    assert main([*args, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "4 runs; 0 finished" in plan and "todo  frac1-eta0.2-seed0-alpha-iou" in plan
    assert not out.exists()  # a dry run writes nothing
    assert main(args) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "| η = 0.2 | iou |" in printed and "rel. improv. vs iou" in printed
    assert "outside training steps and evaluation" in captured.err and "over 4 runs" in captured.err
    records, problems = read_records(out)
    assert len(records) == 4 and not problems
    for record in records:  # run = setup + steps + evaluation + the rest, all measured
        assert 0 < record["setup_s"] < record["train_s"] < record["run_s"]
        assert record["train_s"] + record["eval_s"] <= record["run_s"] + 0.02  # rounded to 0.01
    by_id = {r["run_id"]: r for r in records}
    noisy = by_id["frac1-eta0.2-seed0-iou"]["train_annotations"]
    assert noisy == by_id["frac1-eta0.2-seed0-alpha-iou"]["train_annotations"]  # one file
    assert noisy.endswith("data/frac1-eta0.2-seed0.json")
    manifest = json.loads((out / "data/frac1-eta0.2-seed0.json.manifest.json").read_text())
    assert manifest["noise"]["eta"] == 0.2 and 0.6 < manifest["report"]["mean_iou"] < 0.9
    clean = by_id["frac1-eta0-seed0-iou"]
    # records name no absolute path and no host: paths are relative to the bench folder
    assert clean["train_annotations"] == os.path.relpath(shapes / "annotations/train.json", out)
    assert (out / clean["train_annotations"]).samefile(shapes / "annotations/train.json")
    stored = (out / "results" / "results.jsonl").read_text()
    assert str(tmp_path) not in stored and str(shapes) not in stored and "host" not in clean
    assert clean["config"]["out"] == "runs/frac1-eta0-seed0-iou"
    assert clean["alpha"] == 1.0 and by_id["frac1-eta0-seed0-alpha-iou"]["alpha"] == 3.0
    assert set(clean["metrics"]) >= set(METRICS) and clean["steps"] == 2
    positive = clean["diagnostics"]["positive_iou"]
    assert 0 <= positive["p10"] <= positive["p50"] <= positive["p90"] <= 1
    assert positive["steps"] == 1  # log_every 10 > 2 steps: only the last step is logged
    report = (out / "report.md").read_text()
    assert report.startswith("## What was run") and "\n| noise | loss | AP50" in report
    assert "(plots/vs_eta.png)" in report and "(plots/training.png)" in report
    assert {p.name for p in (out / "plots").iterdir()} >= {
        "ap_vs_iou.png",
        "ap_vs_iou.svg",
        "vs_eta.png",
        "vs_eta.svg",
        "training.png",  # from the run folders' metrics.jsonl
    }
    curves = training_curves(out)
    assert sorted(curves["loss"].unique()) == ["alpha-iou", "iou"] and set(curves["step"]) == {2}
    assert main([*args, "--dry-run"]) == 0
    assert "finished runs: outside training steps" in capsys.readouterr().out
    assert main(args) == 0  # again: nothing left to run
    assert "4 runs, 4 finished already" in capsys.readouterr().err
    assert len(read_records(out)[0]) == 4
    assert main([*args[:-6], "--max-steps", "3", "--img-size", "64", "--batch-size", "4"]) == 2
    assert "other settings or data (max_steps 2, now 3)" in capsys.readouterr().err


@pytest.mark.slow
def test_an_interrupted_grid_resumes_without_losing_or_repeating_runs(tmp_path, shapes, whole_grid):
    runs, seen = expand_grid(**GRID), []

    def kill_in_run_three(event):
        seen.append(event)
        if isinstance(event, RunStep) and event.step == 3 and len(seen_done(seen)) == 2:
            raise KeyboardInterrupt  # in run 3, after its step-2 checkpoint

    def seen_done(events):
        return [e for e in events if isinstance(e, RunDone)]

    with pytest.raises(KeyboardInterrupt):
        run_grid(base_config(shapes), runs, tmp_path, on_event=kill_in_run_three)
    assert len(read_records(tmp_path)[0]) == 2
    events = []
    new = run_grid(base_config(shapes), runs, tmp_path, on_event=events.append)
    assert [r["run_id"] for r in new] == [run.run_id for run in runs[2:]]
    lines = [e.line for e in events if isinstance(e, GridLog)]
    assert any("resumed" in line and "at step 2" in line for line in lines)
    records, _ = read_records(tmp_path)
    assert sorted(r["run_id"] for r in records) == sorted(whole_grid)
    for record in records:  # bit-identical to the uninterrupted grid
        assert record["metrics"] == whole_grid[record["run_id"]], record["run_id"]


@pytest.mark.slow
def test_two_shards_give_the_runs_of_one(tmp_path, shapes, whole_grid):
    runs = expand_grid(**GRID)
    for part in (1, 2):
        run_grid(base_config(shapes), select_shard(runs, part, 2), tmp_path, shard=(part, 2))
    assert {p.name for p in (tmp_path / "results").iterdir()} == {
        "shard-1-of-2.jsonl",
        "shard-2-of-2.jsonl",
    }
    records, _ = read_records(tmp_path)
    assert {r["run_id"]: r["metrics"] for r in records} == whole_grid


@pytest.mark.slow
def test_each_run_of_a_grid_under_torchrun(tmp_path, shapes):
    """Two gloo processes train every run together; rank 0 alone writes and reports."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", "-m", "noisybox", "bench", "--data", str(shapes)]
    command += ["--out", str(out), "--loss", "iou", "--eta", "0", "--eta", "0.2", "--seed", "0"]
    command += ["--max-steps", "2", "--img-size", "64", "--batch-size", "2", "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("bench: 2 runs") == 1 and done.stdout.count("| η = 0.2 |") == 1
    records, problems = read_records(out)
    assert len(records) == 2 and not problems
    assert [r["processes"] for r in records] == [2, 2]


@pytest.mark.slow
def test_fractions_and_every_annotation_format(tmp_path):
    voc = make_voc_year(tmp_path / "VOC2007")
    yolo = make_yolo_dataset(tmp_path / "yolo")
    for name, data, train_images in (("voc", voc, 4), ("yolo", yolo, 3)):
        out = tmp_path / f"bench-{name}"
        args = ["bench", "--data", str(data), "--out", str(out), "--device", "cpu"]
        args += ["--loss", "alpha-diou", "--eta", "0.2", "--fraction", "1", "--fraction", "0.5"]
        args += ["--max-steps", "1", "--img-size", "64", "--batch-size", "2", "--seed", "0"]
        assert main(args) == 0, name
        derived = sorted(p.name for p in (out / "data").iterdir() if p.is_dir())
        assert derived == ["frac0.5-eta0.2-seed0", "frac1-eta0.2-seed0"], name
        files, half = (
            {p.name for p in (out / "data" / name).rglob("*.*") if p.name != "classes.txt"}
            for name in ("frac1-eta0.2-seed0", "frac0.5-eta0.2-seed0")
        )
        assert len(files) == train_images and half < files and len(half) == round(train_images / 2)
        records, _ = read_records(out)
        assert sorted(r["fraction"] for r in records) == [0.5, 1.0]


def write_paper_table_3(folder, seeds=(0,), jitter=0.0):
    """Records holding the α-IoU paper's Table 3 (η = 0.1, YOLOv5s on VOC)."""
    table = {  # AP50 ... AP95, mAP, mAP75:95
        "iou": "74.48 71.57 68.08 63.29 56.55 47.12 33.06 17.53 4.16 0.26 43.61 20.43",
        "alpha-iou": "74.67 71.94 68.73 64.27 57.75 48.50 36.88 21.25 6.30 0.28 45.06 22.64",
        "diou": "74.09 71.46 67.88 63.09 56.18 46.71 32.67 17.50 4.43 0.23 43.42 20.31",
        "alpha-diou": "74.38 71.95 68.10 63.52 57.18 48.47 35.90 20.89 6.37 0.33 44.71 22.39",
    }
    rng = np.random.default_rng(0)
    for seed in seeds:
        for loss, text in table.items():
            values = [float(v) for v in text.split()]
            noise = rng.normal(0, jitter, len(values)) if jitter else 0
            append_record(
                folder / "results" / "results.jsonl",
                {
                    "run_id": f"frac1-eta0.1-seed{seed}-{loss}",
                    "settings": "paper",
                    "fraction": 1.0,
                    "eta": 0.1,
                    "seed": seed,
                    "loss": loss,
                    "alpha": 3.0 if loss.startswith("alpha") else 1.0,
                    "metrics": dict(zip(METRICS, np.add(values, noise).tolist(), strict=True)),
                },
            )


def test_relative_improvement_reproduces_the_papers_table_3(tmp_path):
    write_paper_table_3(tmp_path)
    table = robustness_table(load_results(tmp_path)[0])
    improvement = table.values[table.is_improvement]
    assert list(table.info["baseline"].dropna()) == ["iou", "diou"]
    alpha_iou, alpha_diou = improvement.iloc[0], improvement.iloc[1]
    # the paper's "rela. improv." rows (they divided unrounded numbers: ±0.05)
    np.testing.assert_allclose(alpha_iou[["AP50", "AP90", "mAP"]], [0.26, 51.44, 3.32], atol=0.05)
    np.testing.assert_allclose(alpha_iou["mAP75:95"], 10.85, atol=0.05)
    np.testing.assert_allclose(
        alpha_diou[["AP75", "mAP", "mAP75:95"]], [3.77, 2.97, 10.26], atol=0.05
    )
    assert alpha_diou["mAP"] != pytest.approx(100 * (44.71 / 43.61 - 1))  # not against iou
    forced = robustness_table(load_results(tmp_path)[0], baseline="iou")
    assert list(forced.info["baseline"].dropna()) == ["iou", "iou", "iou"]
    np.testing.assert_allclose(
        forced.values[forced.is_improvement]["mAP"].iloc[2], 100 * (44.71 / 43.61 - 1)
    )
    assert not table.marked.to_numpy().any()  # one seed: nothing is marked


def test_improvements_are_marked_only_beyond_the_seed_spread(tmp_path):
    write_paper_table_3(tmp_path / "steady", seeds=(0, 1, 2), jitter=0.01)
    write_paper_table_3(tmp_path / "noisy", seeds=(0, 1, 2), jitter=5.0)
    steady = robustness_table(load_results(tmp_path / "steady")[0])
    noisy = robustness_table(load_results(tmp_path / "noisy")[0])
    assert steady.marked[steady.is_improvement]["mAP"].all()  # +1.45 mAP, spread 0.01
    assert not noisy.marked[noisy.is_improvement]["AP95"].any()  # +0.02, spread 7
    assert steady.spread.xs("iou", level="label")["mAP"].iloc[0] < 0.05
    assert "**+3.3" in render(steady, "markdown")  # bold where marked


def test_report_formats_parse(tmp_path, capsys):
    write_paper_table_3(tmp_path, seeds=(0, 1), jitter=0.1)
    assert main(["report", str(tmp_path)]) == 0
    markdown = capsys.readouterr().out
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert rows[0].split(" | ")[2:4] == ["AP50", "AP55"]
    assert len(rows) == 1 + 6 and all(row.count("|") == len(METRICS) + 3 for row in rows)

    assert main(["report", str(tmp_path), "-f", "csv", "-o", str(tmp_path / "t.csv")]) == 0
    frame = pd.read_csv(tmp_path / "t.csv")
    assert list(frame["row"]) == ["loss", "loss", "improvement", "loss", "loss", "improvement"]
    improvement = frame[frame["row"] == "improvement"].iloc[0]
    assert improvement["baseline"] == "iou" and improvement["mAP"] == pytest.approx(3.3, abs=0.5)
    assert frame["mAP std"].notna().sum() == 4  # std on loss rows only
    assert main(["report", str(tmp_path), "-f", "csv", "-o", str(tmp_path / "t.csv")]) == 2
    assert "exists already" in capsys.readouterr().err

    assert main(["report", str(tmp_path), "-f", "latex"]) == 0
    latex = capsys.readouterr().out
    body = [line for line in latex.splitlines() if line.endswith(r"\\")]
    assert latex.startswith(r"\begin{tabular}{ll" + "r" * 12 + "}") and r"\end{tabular}" in latex
    assert len(body) == 7 and all(line.count("&") == len(METRICS) + 1 for line in body)
    assert r"\%" in latex and r"$\pm$" in latex

    assert main(["report", str(tmp_path), "-f", "html", "--plots", str(tmp_path / "p")]) == 0
    page = capsys.readouterr().out

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows = []

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])

        def handle_data(self, data):
            if self.rows and self.lasttag in ("td", "th", "b"):
                self.rows[-1].append(data)

    parser = Cells()
    robustness = page[page.index('<table id="robustness"') :]
    parser.feed(robustness[: robustness.index("</table>")])
    assert len(parser.rows) == 7 and parser.rows[1][1] == "iou"
    assert float(parser.rows[1][2].split(" ± ")[0]) == pytest.approx(74.48, abs=0.3)
    assert (tmp_path / "p" / "ap_vs_iou.svg").read_text().lstrip().startswith("<?xml")


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    for args, message in (
        (["report", str(tmp_path / "none")], "no results/ folder"),
        (["bench", "--out", str(tmp_path / "b"), "--shard", "3/2"], "--shard 3/2"),
        (
            ["bench", "--out", str(tmp_path / "b"), "--loss", "iou:2"],
            "use 'alpha-iou' (alpha-iou:2)",
        ),
        (["bench", "--out", str(tmp_path / "b"), "--fraction", "1.5"], "--fraction"),
        (["bench", "--out", str(tmp_path / "b"), "--preset", "huge"], "--preset"),
    ):
        assert main(args) == 2, args
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "b").exists()
    write_paper_table_3(tmp_path)
    assert main(["report", str(tmp_path), "--baseline", "giou"]) == 2
    assert "--baseline giou: no runs of it" in capsys.readouterr().err


def test_every_figure_when_the_grid_varies_eta_fraction_and_alpha(tmp_path):
    from noisybox.report.plots import write_plots

    rng = np.random.default_rng(1)
    for fraction in (1.0, 0.5):
        for eta in (0.0, 0.2):
            for loss, alpha in (("iou", 1.0), ("alpha-iou:2", 2.0), ("alpha-iou", 3.0)):
                append_record(
                    tmp_path / "results" / "results.jsonl",
                    {
                        "run_id": f"frac{fraction:g}-eta{eta:g}-seed0-{loss}",
                        "settings": "s",
                        "fraction": fraction,
                        "eta": eta,
                        "seed": 0,
                        "loss": loss,
                        "alpha": alpha,
                        "metrics": dict(zip(METRICS, rng.uniform(0, 80, 12).tolist(), strict=True)),
                    },
                )
    frame = load_results(tmp_path)[0]
    table = robustness_table(frame)
    assert table.block_axis == "both" and "η = 0.2, 50% data" in render(table, "markdown")
    written = write_plots(frame, tmp_path / "plots")
    names = {path.stem for path in written}
    assert names == {"ap_vs_iou", "vs_eta", "vs_fraction", "alpha_sweep", "regime"}
    assert all(path.stat().st_size > 1000 for path in written) and len(written) == 10
    assert write_plots(frame[frame["loss"] != "alpha-iou:2"], tmp_path / "two") != []
    assert not (tmp_path / "two" / "alpha_sweep.png").exists()  # two α values: no sweep


def store_run(folder, loss, seed=0, value=10.0, **extra):
    """Append a run record of ``loss`` at η = 0.2 with every metric ``value``."""
    record = {"run_id": f"{loss}-{seed}", "settings": "s", "fraction": 1.0, "eta": 0.2,
              "seed": seed, "loss": loss, "metrics": dict.fromkeys(METRICS, value)}  # fmt: skip
    append_record(folder / "results" / "r.jsonl", {**record, **extra})


def test_the_noise_protocol_is_named_in_the_table(tmp_path):
    for loss in ("iou", "alpha-iou"):
        store_run(tmp_path, loss, grid_settings={"protocol": "oa-mil"})
    text = render(robustness_table(load_results(tmp_path)[0]), "markdown")
    assert "| η = 0.2 (oa-mil) | iou |" in text


def test_improvements_compare_the_seeds_both_losses_have(tmp_path):
    """A grid cut short: iou has seeds 0 and 1, alpha-iou seed 0 only. The improvement is
    alpha-iou's seed 0 over iou's seed 0, not over the mean of iou's two seeds."""
    for seed, loss, value in ((0, "iou", 10.0), (1, "iou", 30.0), (0, "alpha-iou", 12.0)):
        store_run(tmp_path, loss, seed, value)
    table = robustness_table(load_results(tmp_path)[0])
    row = table.values.loc[(1.0, 0.2, "alpha-iou vs iou")]
    assert row["mAP"] == pytest.approx(20.0)  # 12 / 10, not 12 / 20
    assert table.info.loc[(1.0, 0.2, "alpha-iou vs iou"), "seeds"] == 1


def test_spread_and_marks_on_numbers_known_in_advance(tmp_path):
    """Three seeds, iou at 10, 20, 30 (every metric). At η = 0.2 alpha-iou gains 1, 1, 1:
    the seed moves both losses alike, so the paired differences have spread 0 and +5% is
    marked, though each loss alone spreads by 10 (unpaired, nothing would be). At η = 0.4 it
    gains 2.25, 0.25, 0.5: mean 1, paired std 1.09 with ``ddof=1`` (0.89 with ``ddof=0``),
    so +5% is not marked. A loss row's spread is the sample std, ``ddof=1``: exactly 10."""
    for eta, gains in ((0.2, (1.0, 1.0, 1.0)), (0.4, (2.25, 0.25, 0.5))):
        for seed, value in enumerate((10.0, 20.0, 30.0)):
            store_run(tmp_path, "iou", seed, value, eta=eta, run_id=f"iou-{eta}-{seed}")
            store_run(tmp_path, "alpha-iou", seed, value + gains[seed], eta=eta,
                      run_id=f"alpha-iou-{eta}-{seed}")  # fmt: skip
    table = robustness_table(load_results(tmp_path)[0])
    for eta in (0.2, 0.4):
        assert table.spread.loc[(1.0, eta, "iou")].tolist() == [10.0] * len(METRICS)
        improvement = table.values.loc[(1.0, eta, "alpha-iou vs iou")]
        assert improvement.tolist() == pytest.approx([5.0] * len(METRICS))  # 21 / 20
    assert table.marked.loc[(1.0, 0.2, "alpha-iou vs iou")].all()
    assert not table.marked.loc[(1.0, 0.4, "alpha-iou vs iou")].any()
    text = render(table, "markdown")
    assert "| iou | 20.00 ± 10.00 |" in text
    assert "**+5.00%**" in text and "| +5.00% |" in text


def test_report_per_class(tmp_path, capsys):
    for seed, loss, ap in ((0, "iou", 40.0), (1, "iou", 50.0), (0, "alpha-iou", 30.0)):
        per_class = {
            "1": {"name": "cat", "AP": ap, "AP75": ap / 2, "AR100": 60.0},
            "2": {"name": "dog", "AP": None, "AP75": None, "AR100": None},
        }
        store_run(tmp_path, loss, seed, per_class=per_class)
    from noisybox.report.tables import per_class_table

    table = per_class_table(tmp_path)
    assert table.loc[(1.0, 0.2, "cat", "iou"), "AP"] == 45.0
    assert table.loc[(1.0, 0.2, "cat", "iou"), "seeds"] == 2
    assert np.isnan(table.loc[(1.0, 0.2, "dog", "alpha-iou"), "AP"])
    assert main(["report", str(tmp_path), "--per-class"]) == 0
    assert "per class" in capsys.readouterr().out


def test_an_improvement_over_a_baseline_below_one_ap_point_is_na_with_its_reason(tmp_path):
    """The paper's Table 3 has AP95 = 0.26 for IoU: a ratio over that (+7.7%) says nothing."""
    write_paper_table_3(tmp_path, seeds=(0, 1), jitter=0.01)
    table = robustness_table(load_results(tmp_path)[0])
    row = table.values.loc[(1.0, 0.1, "alpha-iou vs iou")]
    assert np.isnan(row["AP95"]) and row["AP90"] == pytest.approx(100 * (6.30 / 4.16 - 1), abs=1)
    assert not table.marked.loc[(1.0, 0.1, "alpha-iou vs iou"), "AP95"]
    text = render(table, "markdown")
    assert "n/a" in text and "below 1 point" in text


@pytest.mark.slow
def test_jobs_share_one_grid(tmp_path, shapes, capsys):
    """``--jobs 2``: a second process shares the grid through the locks; every run is trained
    once, its record written once, whichever process took it; the threads are shared out."""
    from noisybox.benchmark.jobs import threads_per_job

    out = tmp_path / "bench"
    args = ["bench", "--data", str(shapes), "--out", str(out), "--device", "cpu", "--jobs", "2"]
    args += ["--loss", "iou", "--loss", "alpha-iou", "--eta", "0", "--eta", "0.2", "--seed", "0"]
    args += ["--max-steps", "2", "--img-size", "64", "--batch-size", "4"]
    assert main(args) == 0
    records, problems = read_records(out)
    assert not problems and len(records) == 4
    assert len({r["run_id"] for r in records}) == 4
    lines = sum(len(p.read_text().splitlines()) for p in (out / "results").glob("*.jsonl"))
    assert lines == 4  # no run recorded twice
    assert threads_per_job(1) == (os.cpu_count() or 1) and threads_per_job(10**6) == 1


def test_a_changed_detector_is_other_settings(tmp_path, shapes):
    """RetinaNet changed (GroupNorm heads): its bench settings name revision 2, so runs of the
    old one (no revision) never count as finished runs of the new; FCOS's settings, and so
    the committed studies' fingerprints, are as before."""
    from noisybox.benchmark.runner import fingerprint, settings_of

    base = TrainConfig(**data_from_folder(shapes), out=str(tmp_path / "b"), model="retinanet")
    settings = settings_of(base)
    assert settings["model_revision"] == 2
    old = {k: v for k, v in settings.items() if k != "model_revision"}
    assert fingerprint(old) != fingerprint(settings)
    fcos = settings_of(TrainConfig(**data_from_folder(shapes), out=str(tmp_path / "b")))
    assert "model_revision" not in fcos


def _known_store(folder, diagnostics=None):
    """Two noise rates × iou / alpha-iou × seeds 0 and 1, every metric of a run equal:
    η 0: iou 50, 52; alpha-iou 54, 55. η 0.3: iou 0.5, 0.7; alpha-iou 0.4, 0.9."""
    runs = {(0.0, "iou"): (50, 52), (0.0, "alpha-iou"): (54, 55),
            (0.3, "iou"): (0.5, 0.7), (0.3, "alpha-iou"): (0.4, 0.9)}  # fmt: skip
    for (eta, loss), values in runs.items():
        for seed, value in enumerate(values):
            append_record(folder / "results" / "results.jsonl", {
                "run_id": f"eta{eta}-seed{seed}-{loss}", "settings": "known", "fraction": 1.0,
                "eta": eta, "seed": seed, "loss": loss, "alpha": 3.0 if "alpha" in loss else 1.0,
                "metrics": dict.fromkeys(METRICS, value),
                **({"diagnostics": diagnostics} if diagnostics is not None else {}),
            })  # fmt: skip


def test_a_table_of_numbers_known_in_advance_in_every_format(tmp_path):
    """Means and standard deviations (ddof 1) over the seeds, the relative improvement of
    the means (+6.86% = 54.5 / 51 − 1), bold where the paired differences' mean exceeds
    their spread (4 and 3: 3.5 > 0.71), n/a where the baseline is below 1 AP point."""
    _known_store(tmp_path)
    table = robustness_table(load_results(tmp_path)[0])
    twelve = len(METRICS)

    def row(*cells):
        return "| " + " | ".join(cells) + " |"

    markdown = "\n".join([
        row("noise", "loss", *METRICS), "|" + "---|" * (twelve + 2),
        row("η = 0", "iou", *["51.00 ± 1.41"] * twelve),
        row("", "alpha-iou", *["54.50 ± 0.71"] * twelve),
        row("", "rel. improv. vs iou", *["**+6.86%**"] * twelve),
        row("η = 0.3", "iou", *["0.60 ± 0.14"] * twelve),
        row("", "alpha-iou", *["0.65 ± 0.35"] * twelve),
        row("", "rel. improv. vs iou", *["n/a"] * twelve),
    ])  # fmt: skip
    note = ("AP in percent, mean ± std over 2 seeds; improvements in bold exceed the "
            "seed-to-seed spread of the paired differences. n/a: the baseline's AP is below "
            "1 point there, where a relative change says nothing.")  # fmt: skip
    assert render(table, "markdown") == markdown + "\n\n" + note

    header = (["fraction", "eta", "row", "loss", "baseline", "seeds"] + METRICS
              + [f"{m} std" for m in METRICS] + [f"{m} marked" for m in METRICS])  # fmt: skip
    lines = [
        ["1.0", "0.0", "loss", "iou", "", "2"] + ["51.0"] * 12 + ["1.4142"] * 12 + ["false"] * 12,
        ["1.0", "0.0", "loss", "alpha-iou", "", "2"] + ["54.5"] * 12 + ["0.7071"] * 12
        + ["false"] * 12,
        ["1.0", "0.0", "improvement", "alpha-iou", "iou", "2"] + ["6.8627"] * 12 + [""] * 12
        + ["true"] * 12,
        ["1.0", "0.3", "loss", "iou", "", "2"] + ["0.6"] * 12 + ["0.1414"] * 12 + ["false"] * 12,
        ["1.0", "0.3", "loss", "alpha-iou", "", "2"] + ["0.65"] * 12 + ["0.3536"] * 12
        + ["false"] * 12,
        ["1.0", "0.3", "improvement", "alpha-iou", "iou", "2"] + [""] * 24 + ["false"] * 12,
    ]  # fmt: skip
    assert render(table, "csv") == "\n".join(",".join(r) for r in [header, *lines])

    names = [f"AP$_{{{t}}}$" for t in range(50, 100, 5)] + ["mAP", "mAP$_{75:95}$"]
    latex = "\n".join([
        r"\begin{tabular}{ll" + "r" * twelve + "}", r"\toprule",
        " & ".join(["noise", "loss", *names]) + r" \\", r"\midrule",
        " & ".join([r"$\eta$ = 0", "iou", *[r"51.00 $\pm$ 1.41"] * twelve]) + r" \\",
        " & ".join(["", "alpha-iou", *[r"54.50 $\pm$ 0.71"] * twelve]) + r" \\",
        " & ".join(["", "rel. improv. vs iou", *[r"\textbf{+6.86\%}"] * twelve]) + r" \\",
        r"\midrule",
        " & ".join([r"$\eta$ = 0.3", "iou", *[r"0.60 $\pm$ 0.14"] * twelve]) + r" \\",
        " & ".join(["", "alpha-iou", *[r"0.65 $\pm$ 0.35"] * twelve]) + r" \\",
        " & ".join(["", "rel. improv. vs iou", *["n/a"] * twelve]) + r" \\",
        r"\bottomrule", r"\end{tabular}", "% " + note,
    ])  # fmt: skip
    assert render(table, "latex") == latex

    def tr(*cells):
        return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    head = "".join(f"<th>{h}</th>" for h in ["noise", "loss", *METRICS])
    html = "\n".join([
        '<table class="noisybox-robustness">', f"<thead><tr>{head}</tr></thead>", "<tbody>",
        tr("η = 0", "iou", *["51.00 ± 1.41"] * twelve),
        tr("", "alpha-iou", *["54.50 ± 0.71"] * twelve),
        tr("", "rel. improv. vs iou", *["<b>+6.86%</b>"] * twelve),
        "</tbody><tbody>",
        tr("η = 0.3", "iou", *["0.60 ± 0.14"] * twelve),
        tr("", "alpha-iou", *["0.65 ± 0.35"] * twelve),
        tr("", "rel. improv. vs iou", *["n/a"] * twelve),
        "</tbody>", f"<caption>{note.replace(chr(39), '&#x27;')}</caption>", "</table>",
    ])  # fmt: skip
    assert render(table, "html") == html
    with pytest.raises(NoisyboxError, match="format must be one of") as raised:
        render(table, "pdf")
    assert raised.value.parameter == "format"


def test_load_results_reads_the_diagnostics_and_run_settings_of_each_run(tmp_path):
    """Each row: fraction, eta, seed, loss, alpha, run_s, the noise protocol (α-IoU's when
    not recorded), every metric (NaN for null) and the diagnostics (NaN where missing or
    not a number)."""
    diagnostics = {"positive_iou": {"p10": 0.25, "p50": 0.5, "p90": "high"}, "matched_iou": 0.75}
    _known_store(tmp_path / "a", diagnostics)
    frame = load_results(tmp_path / "a")[0]
    assert frame["positive_iou_p10"].tolist() == [0.25] * 8
    assert frame["positive_iou_p50"].tolist() == [0.5] * 8
    assert frame["positive_iou_p90"].isna().all() and frame["matched_iou"].tolist() == [0.75] * 8
    assert frame["protocol"].tolist() == ["alpha-iou"] * 8
    assert frame.loc[frame["loss"] == "alpha-iou", "alpha"].tolist() == [3.0] * 4
    assert list(frame.columns[:7]) == ["fraction", "eta", "seed", "loss", "alpha", "run_s",
                                       "protocol"]  # fmt: skip
    _known_store(tmp_path / "b", diagnostics="not a table")
    path = tmp_path / "b" / "results" / "results.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["metrics"]["AP95"] = None
    records[0]["grid_settings"] = {"protocol": "oa-mil"}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    frame = load_results(tmp_path / "b")[0]
    assert frame[["positive_iou_p10", "positive_iou_p50", "matched_iou"]].isna().all().all()
    assert np.isnan(frame["AP95"].iloc[0]) and frame["AP95"].iloc[1] == 52
    assert frame["protocol"].tolist() == ["oa-mil"] + ["alpha-iou"] * 7


def test_load_results_refuses_mixed_settings_and_picks_one_by_prefix(tmp_path):
    """A store of two settings is refused, naming each with its runs and what differs;
    ``settings`` (a fingerprint's first characters) picks one; an empty store is named."""
    for name, steps in (("aaa111", 800), ("bbb222", 1000)):
        for seed in (0, 1, 2)[: 2 if steps == 800 else 3]:
            append_record(tmp_path / "results" / "results.jsonl", {
                "run_id": f"{name}-{seed}", "settings": name, "fraction": 1.0, "eta": 0.0,
                "seed": seed, "loss": "iou", "metrics": dict.fromkeys(METRICS, 10.0 + seed),
                "grid_settings": {"max_steps": steps, "model": "fcos"},
            })  # fmt: skip
    with pytest.raises(NoisyboxError) as raised:
        load_results(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path}: holds runs of 2 different settings (aaa111: 2 runs, bbb222: 3 runs; "
        "they differ in max_steps 800 / 1000); never averaged together: pick one with "
        "`settings=ID`"
    )
    assert len(load_results(tmp_path, settings="aaa")[0]) == 2
    assert len(load_results(tmp_path, settings="bbb222")[0]) == 3
    with pytest.raises(NoisyboxError) as raised:
        load_results(tmp_path, settings="c")
    assert str(raised.value) == (
        f"settings c: matches 0 of the settings in {tmp_path} (aaa111, bbb222)"
    )
    (tmp_path / "empty" / "results").mkdir(parents=True)
    with pytest.raises(NoisyboxError, match="no finished runs in results/"):
        load_results(tmp_path / "empty")


def test_a_table_over_data_fractions_labels_its_blocks_by_data(tmp_path):
    """Blocks by data fraction ("50% data", heading "data"), or by both ("η = 0.2, 50%
    data", heading "training set")."""
    for fraction in (1.0, 0.5):
        for eta in (0.2,) if fraction == 0.5 else (0.2, 0.4):
            append_record(tmp_path / "results" / "results.jsonl", {
                "run_id": f"{fraction}-{eta}", "settings": "s", "fraction": fraction,
                "eta": eta, "seed": 0, "loss": "iou", "metrics": dict.fromkeys(METRICS, 5.0),
            })  # fmt: skip
    frame = load_results(tmp_path)[0]
    by_data = render(robustness_table(frame[frame["eta"] == 0.2]), "markdown").splitlines()
    assert by_data[0].startswith("| data | loss |")
    assert by_data[2].startswith("| 100% data | iou |") and by_data[3].startswith("| 50% data |")
    both = render(robustness_table(frame), "markdown").splitlines()
    assert both[0].startswith("| training set | loss |")
    assert both[2].startswith("| η = 0.2, 100% data |") and "η = 0.4, 100% data" in both[3]
    assert both[4].startswith("| η = 0.2, 50% data |")


def test_bench_leaves_invalid_records_out_with_skip_and_stops_on_them_by_default(
    tmp_path, shapes, capsys
):
    data = tmp_path / "data"
    shutil.copytree(shapes, data)
    records = {}
    for split in ("train", "val"):
        path = data / "annotations" / f"{split}.json"
        document = json.loads(path.read_text())
        document["annotations"][0]["bbox"][3] = 0  # no height
        path.write_text(json.dumps(document))
        records[split] = len(document["annotations"])
    out = tmp_path / "bench"
    args = ["bench", "--data", str(data), "--out", str(out), "--device", "cpu", "--loss", "iou",
            "--eta", "0.2", "--seed", "0", "--max-steps", "1", "--img-size", "64",
            "--batch-size", "4"]  # fmt: skip
    assert main(args) == 2
    assert re.search(r"train\.json: annotation id \d+: box has zero or negative width",
                     capsys.readouterr().err)  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "skip"), "--on-invalid", "skip"]) == 0
    (derived,) = [path for path in (tmp_path / "skip" / "data").glob("*.json")
                  if not path.name.endswith(".manifest.json")]  # fmt: skip
    boxes = [record["bbox"] for record in json.loads(derived.read_text())["annotations"]]
    assert len(boxes) == records["train"] - 1 and all(b[3] > 0 for b in boxes)
