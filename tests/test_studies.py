"""The committed studies and the README tables quoting them never drift apart: every number
of a study in the README is rendered from its results store (``make studies``)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_and_reports_are_rendered_from_the_committed_studies():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "render_studies.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_study_records_name_no_absolute_path_or_host():
    import json

    for store in (ROOT / "benchmarks" / "studies").glob("*/results/*.jsonl"):
        for line in store.read_text().splitlines():
            record = json.loads(line)
            assert "host" not in record
            for key, value in record["config"].items():
                assert not (isinstance(value, str) and value.startswith("/")), (store, key)
            assert not record["train_annotations"].startswith("/")


def test_every_study_is_defined_by_a_config_file_bench_accepts():
    """``noisybox bench --config benchmarks/studies/NAME/config.toml`` runs each study: its
    keys are bench's options and its output folder is the study's own."""
    import typer.main
    from noisybox.cli import app

    from noisybox.command_config import read_command_config

    bench = typer.main.get_command(app).commands["bench"]
    known = {param.name for param in bench.params}
    for folder in (ROOT / "benchmarks" / "studies").iterdir():
        if not (folder / "results").is_dir():
            continue
        config = read_command_config(folder / "config.toml", "bench", known)
        assert config["out"] == f"benchmarks/studies/{folder.name}", folder
