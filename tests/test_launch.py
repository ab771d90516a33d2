"""Grids on a cluster: ``bench --launcher`` sends a grid as a job array through submitit (its
local executor here: processes on this machine), each task one shard of the shared store;
``--shard auto`` reads a Slurm array task's part from its environment."""

import pytest
from noisybox.cli import main

from noisybox.benchmark.launch import shard_from_slurm
from noisybox.benchmark.store import read_records
from noisybox.errors import NoisyboxError


def test_shard_auto_reads_the_slurm_array_task():
    env = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"}
    assert shard_from_slurm(env) == (4, 4)
    env["SLURM_ARRAY_TASK_MIN"] = "1"
    assert shard_from_slurm(env) == (3, 4)
    with pytest.raises(NoisyboxError, match="SLURM_ARRAY_TASK_ID"):
        shard_from_slurm({})
    stepped = {"SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2"}
    stepped["SLURM_ARRAY_TASK_COUNT"] = "4"  # --array=0-6:2
    assert shard_from_slurm({**stepped, "SLURM_ARRAY_TASK_ID": "4"}) == (3, 4)
    with pytest.raises(NoisyboxError, match="evenly stepped"):
        shard_from_slurm({**stepped, "SLURM_ARRAY_TASK_ID": "3"})


@pytest.mark.slow  # four toy runs in two extra processes: about a minute on 2 cores
def test_a_two_by_two_grid_runs_as_an_array_and_merges(tmp_path, shapes, capsys):
    pytest.importorskip("submitit", reason="needs submitit (noisybox[slurm] or [dev])")
    out = tmp_path / "bench"
    args = ["bench", "--data", str(shapes), "--out", str(out), "--device", "cpu"]
    args += ["--loss", "iou", "--loss", "alpha-iou", "--eta", "0", "--eta", "0.2", "--seed", "0"]
    args += ["--max-steps", "2", "--img-size", "48", "--batch-size", "4", "--workers", "0"]
    assert main([*args, "--launcher", "local", "--tasks", "2", "--wait"]) == 0
    assert "submitted 2 tasks (local)" in capsys.readouterr().out
    records, problems = read_records(out)
    assert len(records) == 4 and not problems
    stores = sorted(p.name for p in (out / "results").iterdir())
    assert stores == ["shard-1-of-2.jsonl", "shard-2-of-2.jsonl"]
    assert (out / "report.md").exists() and (out / "config.toml").exists()
    assert main(args) == 0  # bench on the "login node": all four finished, merged
    assert "4 runs, 4 finished already" in capsys.readouterr().err


def test_a_grid_for_remote_gpus_takes_the_gpu_defaults_whatever_this_machine_is(tmp_path):
    """Submitted from a CPU login node to GPU tasks, the default preset and loaders are the
    GPU's (paper, 8 workers); planned for this CPU, they are this machine's."""
    from noisybox.benchmark.setup import plan_bench

    remote = plan_bench(tmp_path / "b", settings={"device": "cpu"}, dry_run=True, remote_gpus=True)
    here = plan_bench(tmp_path / "b", settings={"device": "cpu"}, dry_run=True)
    assert (remote.preset, remote.base.workers) == ("paper", 8)
    assert (here.preset, here.base.workers) == ("quick", 0)
