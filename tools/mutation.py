"""Mutation testing of the core modules with mutmut, outside CI: ``make mutation``.

For each module of :data:`MODULES`, a scratch copy of the package and the tests goes to
``build/mutation/NAME/`` (``cli/`` folded into ``noisybox/cli``: mutmut's copy is not
installed, so ``pyproject.toml``'s package-dir mapping does not apply there), mutmut mutates
the module and runs, for each mutant, the tests of its selection that execute the mutated
function; the score is killed / (killed + survived) (timeouts count as killed, as mutmut
counts them). It runs in a venv where noisybox is not installed (an editable install would
import the unmutated package instead of the mutants): ``build/mutation/venv``, which sees this
project's ``.venv`` site-packages.

    python tools/mutation.py                       # every module of MODULES
    python tools/mutation.py noisybox/confusion.py # one
    python tools/mutation.py --json build/mutation/scores.json
    python tools/mutation.py --max-children 1 noisybox/formats/  # beside other work

Prints a markdown table (module, mutants, killed, survived, score) for the README.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
FAST = ["-m", "not slow", "-p", "no:randomly", "-p", "no:xdist", "-q", "-x"]
#: the module (or package) mutated, and the tests that check it (fast ones only)
MODULES: dict[str, list[str]] = {
    "noisybox/boxes.py": ["tests/test_noise.py", "tests/test_compare.py"],
    "noisybox/keys.py": ["tests/test_noise.py"],
    "noisybox/noise/": ["tests/test_noise.py", "tests/test_compare.py",
                        "tests/test_cli_annotations.py"],
    "noisybox/confusion.py": ["tests/test_evaluate.py"],
    "noisybox/formats/json_layout.py": ["tests/test_json_layout.py"],
    "noisybox/evaluate.py": ["tests/test_evaluate.py", "tests/test_diagnostics.py"],
    "noisybox/report/tables.py": ["tests/test_layers.py", "tests/test_bench.py", "-k",
                                  "report or improvement or spread or table or relative or "
                                  "load_results or rendered"],
    "noisybox/formats/": ["tests/test_formats.py", "tests/test_format_yolo.py",
                          "tests/test_convert.py",
                          "tests/test_json_layout.py", "tests/test_cli_annotations.py",
                          "tests/test_reliability.py", "-k",
                          "not shared_datasets and not results_store and not share_one_class"],
    "noisybox/losses/penalties.py": ["tests/test_losses_reference.py",
                                     "tests/test_losses_authors.py"],
    "noisybox/losses/alpha_iou.py": ["tests/test_losses_reference.py",
                                     "tests/test_losses_authors.py",
                                     "tests/test_losses_modules.py",
                                     "tests/test_losses_numerics.py"],
    "noisybox/training/": ["tests/test_hooks.py", "tests/test_batching.py",
                           "tests/test_predict.py", "tests/test_training.py",
                           "tests/test_diagnostics.py"],
}  # fmt: skip
#: files of a package left unmutated: each mutant of the trainer's loop runs most of the
#: training tests (about a minute on 2 cores), hours in all
LEFT_OUT: dict[str, list[str]] = {"noisybox/training/": ["noisybox/training/trainer.py"]}


def venv() -> Path:
    """A venv without noisybox that imports this project's other packages."""
    python = WORK / "venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(WORK / "venv")], check=True)
        site = Path(sysconfig.get_paths()["purelib"])  # this interpreter's: the project venv
        target = next((WORK / "venv" / "lib").glob("python3*")) / "site-packages"
        (target / "project-deps.pth").write_text(f"{site}\n")
    return python


def scratch(module: str, tests: list[str]) -> Path:
    """``build/mutation/NAME``: the package (with cli/ as noisybox/cli), tests, config."""
    name = re.sub(r"[^\w]+", "-", module.removeprefix("noisybox/")).strip("-")
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "noisybox", folder / "noisybox")
    shutil.copytree(ROOT / "cli", folder / "noisybox" / "cli")
    shutil.copytree(ROOT / "tests", folder / "tests")
    # tests that read the README (the loss table) or the committed studies; a test that
    # runs a script in a new process (test_studies.py) cannot see the mutants: left out
    shutil.copytree(ROOT / "benchmarks", folder / "benchmarks")
    shutil.copy(ROOT / "README.md", folder / "README.md")
    files = [t for t in tests if t.startswith("tests/")]
    options = [t for t in tests if not t.startswith("tests/")]  # -k EXPRESSION
    config = (ROOT / "pyproject.toml").read_text()
    config = config[: config.index("[tool.pytest.ini_options]")]  # mutmut drives pytest
    config += (
        "[tool.pytest.ini_options]\nmarkers = ['slow: whole grids, torchrun']\n\n"
        "[tool.mutmut]\n"
        f"source_paths = [{json.dumps(module)}]\n"
        f"do_not_mutate = {json.dumps(LEFT_OUT.get(module, []))}\n"
        'also_copy = ["noisybox/", "README.md", "benchmarks/"]\n'
        f"pytest_add_cli_args = {json.dumps(FAST)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(files + options)}\n"
    )
    (folder / "pyproject.toml").write_text(config)
    return folder


def score(folder: Path, python: Path, children: int | None = None) -> dict:
    """Run mutmut in ``folder`` (``children`` mutants at once; default: one a core)."""
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    limit = [] if children is None else ["--max-children", str(children)]
    subprocess.run([str(python), "-m", "mutmut", "run", *limit], cwd=folder, env=env,
                   stdout=subprocess.DEVNULL, check=False)  # fmt: skip
    listed = subprocess.run(
        [str(python), "-m", "mutmut", "results", "--all", "true"],
        cwd=folder, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    counts: dict[str, int] = {}
    for line in listed.stdout.splitlines():
        status = line.rpartition(": ")[2].strip()
        if status:
            counts[status] = counts.get(status, 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    survived = counts.get("survived", 0)
    return {"counts": counts, "killed": killed, "survived": survived,
            "score": killed / (killed + survived) if killed + survived else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules of MODULES (default: all)")
    parser.add_argument("--json", type=Path, help="also write the scores to this file")
    parser.add_argument("--max-children", type=int,
                        help="mutants run at once (default: one a core)")  # fmt: skip
    args = parser.parse_args()
    chosen = args.modules or list(MODULES)
    unknown = [m for m in chosen if m not in MODULES]
    if unknown:
        sys.exit(f"not in MODULES: {', '.join(unknown)}")
    python = venv()
    results = {}
    print("| module | mutants | killed | survived | score |\n|---|---:|---:|---:|---:|")
    for module in chosen:
        result = score(scratch(module, MODULES[module]), python, args.max_children)
        results[module] = result
        total = sum(result["counts"].values())
        shown = "n/a" if result["score"] is None else f"{result['score']:.0%}"
        print(f"| `{module}` | {total} | {result['killed']} | {result['survived']} | {shown} |",
              flush=True)  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
