"""Nothing a user gave is lost: every path a command writes is checked first (the reliability
issue's data-loss defects, each reproduced as the review found it)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from noisybox.cli import main

from noisybox.atomic import _host_tag, atomic_directory, atomic_write, remove_stale_temporaries
from noisybox.errors import NoisyboxError
from noisybox.outputs import MARKER

from .datasets import digest, toy_config, write_coco, write_voc, write_yolo


def run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> bool:
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("noisybox: error: ") and "Traceback" not in err


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_the_manifest_never_replaces_the_input(tmp_path, capsys):
    """``corrupt train.manifest.json -o train`` would have written its manifest over the input."""
    source = write_coco(tmp_path / "train.manifest.json")
    before = source.read_bytes()
    code, _, err = run(["corrupt", source, "--eta", "0.2", "-o", tmp_path / "train"], capsys)
    assert code == 2 and one_line_error(err) and "the input" in err
    assert source.read_bytes() == before and listing(tmp_path) == ["train.manifest.json"]


def test_an_existing_manifest_path_is_checked_like_the_output(tmp_path, capsys):
    source = write_coco(tmp_path / "train.json")
    theirs = tmp_path / "keep.json.manifest.json"
    theirs.write_text("my notes")
    args = ["corrupt", source, "--eta", "0.2", "-o", tmp_path / "keep.json"]
    code, _, err = run(args, capsys)
    assert code == 2 and one_line_error(err) and "keep.json.manifest.json: exists" in err
    code, _, err = run([*args, "--overwrite"], capsys)
    assert code == 2 and "not a noisybox manifest" in err
    assert theirs.read_text() == "my notes" and not (tmp_path / "keep.json").exists()
    theirs.unlink()
    assert run(args, capsys)[0] == 0
    assert run([*args, "--seed", "1", "--overwrite"], capsys)[0] == 0  # its own manifest: fine


def test_show_never_overwrites_an_existing_file_or_writes_among_the_images(tmp_path, capsys):
    from .datasets import voc_with_images

    source, images = voc_with_images(tmp_path)
    run(["corrupt", source, "--eta", "0.3", "-o", tmp_path / "noisy"], capsys)
    photo = images / "000000.jpg"
    photo_bytes = photo.read_bytes()
    base = ["show", source, "--noisy", tmp_path / "noisy", "--images", images, "--count", 1]
    for target, extra in ((photo, []), (photo, ["--overwrite"]), (images / "new.png", [])):
        code, _, err = run([*base, "-o", target, *extra], capsys)
        assert code == 2 and one_line_error(err) and "input" in err
    assert photo.read_bytes() == photo_bytes and not (images / "new.png").exists()
    mine = tmp_path / "figure.png"
    mine.write_bytes(b"mine")
    code, _, err = run([*base, "-o", mine], capsys)
    assert code == 2 and "exists already" in err and mine.read_bytes() == b"mine"
    assert run([*base, "-o", mine, "--overwrite"], capsys)[0] == 0
    assert mine.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("writer", [write_voc, write_yolo])
def test_overwrite_never_deletes_a_folder_noisybox_did_not_write(tmp_path, capsys, writer):
    source = writer(tmp_path / "labels")
    theirs = tmp_path / "out"
    (theirs / "thesis").mkdir(parents=True)
    (theirs / "thesis" / "chapter1.tex").write_text("years of work")
    (theirs / "notes.txt").write_text("notes")
    before = digest(theirs)
    for command in (["corrupt", "--eta", "0.2"], ["subsample", "--fraction", "0.5"]):
        code, _, err = run([command[0], source, *command[1:], "-o", theirs, "--overwrite"], capsys)
        assert code == 2 and one_line_error(err)
        assert "not written by noisybox (holds notes.txt, thesis/)" in err
    assert digest(theirs) == before
    # a folder noisybox wrote (its manifest beside it) is replaced
    ours = tmp_path / "ours"
    assert run(["corrupt", source, "--eta", "0.2", "-o", ours], capsys)[0] == 0
    assert run(["corrupt", source, "--eta", "0.3", "-o", ours, "--overwrite"], capsys)[0] == 0


def test_make_dataset_overwrite_replaces_only_its_own_folder(tmp_path, capsys):
    theirs = tmp_path / "data"
    theirs.mkdir()
    (theirs / "precious.csv").write_text("1,2,3")
    args = ["make-dataset", "shapes", "--out", theirs, "--images", 4, "--image-size", 32]
    code, _, err = run([*args, "--overwrite"], capsys)
    assert code == 2 and one_line_error(err) and "precious.csv" in err
    assert (theirs / "precious.csv").read_text() == "1,2,3"
    ours = tmp_path / "shapes"
    assert run([*args[:3], ours, *args[4:]], capsys)[0] == 0
    assert (ours / MARKER).is_file()
    assert run([*args[:3], ours, *args[4:], "--overwrite", "--seed", "1"], capsys)[0] == 0


def test_a_temporary_left_by_a_killed_process_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "out.json"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale_file = tmp_path / f".out.json.nbx-{_host_tag()}-{dead_pid}-abc.tmp"
    stale_folder = tmp_path / f".out.json.nbx-{_host_tag()}-{dead_pid}-def"
    live = tmp_path / f".out.json.nbx-{_host_tag()}-{os.getpid()}-ghi.tmp"
    other_host = tmp_path / f".out.json.nbx-zzzzzz-{dead_pid}-jkl.tmp"
    unrelated = tmp_path / ".out.json.backup"
    for path in (stale_file, live, other_host, unrelated):
        path.write_text("x")
    (stale_folder / "deep").mkdir(parents=True)
    with atomic_write(target) as handle:
        handle.write(b"{}")
    assert not stale_file.exists() and not stale_folder.exists()
    assert live.exists() and other_host.exists() and unrelated.exists()  # not ours to remove
    assert remove_stale_temporaries(target) == []


def test_a_failed_write_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic_write(tmp_path / "a.json") as handle:
        handle.write(b"part")
        raise RuntimeError
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "folder") as staging:
        (staging / "file").write_text("part")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_a_write_leaves_no_temporary(tmp_path):
    script = (
        "import os, signal, sys\n"
        "from noisybox.cli import main\n"
        "from noisybox.atomic import atomic_write\n"
        "import noisybox.cli as cli\n"
        "signal.signal(signal.SIGTERM, cli._exit_on_sigterm)\n"
        f"with atomic_write({str(tmp_path / 'big.json')!r}) as handle:\n"
        "    handle.write(b'x')\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode == 128 + 15
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "output, message",
    [
        ("bad\0name.json", "null byte"),
        ("x" * 230 + ".json", "longer than 200 bytes"),
        ("afile/inside.json", "is not a folder"),
    ],
)
def test_impossible_output_paths_are_one_line(tmp_path, capsys, output, message):
    source = write_coco(tmp_path / "train.json")
    (tmp_path / "afile").write_text("a file, not a folder")
    code, _, err = run(["corrupt", source, "--eta", "0.2", "-o", tmp_path / output], capsys)
    assert code == 2 and one_line_error(err) and message in err.lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "train.json"]


# ---- silently wrong results -------------------------------------------------------------


def _voc_split(folder, files):
    """A VOC folder whose files hold the given class names (one box each), 96x80 images."""
    from PIL import Image

    from .datasets import VOC_OBJECT, VOC_TEMPLATE

    (folder / "Annotations").mkdir(parents=True)
    (folder / "JPEGImages").mkdir()
    for name, label in files.items():
        objects = VOC_OBJECT.format(label=label, x1=10, y1=12, x2=60, y2=50)
        text = VOC_TEMPLATE.format(name=name, width=96, height=80, objects=objects)
        (folder / "Annotations" / f"{name}.xml").write_text(text)
        Image.new("RGB", (96, 80), (90, 80, 120)).save(folder / "JPEGImages" / f"{name}.jpg")
    return folder


def test_splits_with_different_classes_share_one_class_table(tmp_path):
    """train {cat, dog} and val {dog}: val's dog must keep dog's label, not cat's."""
    from noisybox.training.trainer import Trainer

    train = _voc_split(tmp_path / "train", {"a": "cat", "b": "dog", "c": "dog"})
    val = _voc_split(tmp_path / "val", {"d": "dog"})
    config = _toy_train_config(
        train,
        tmp_path / "run",
        val_annotations=str(val / "Annotations"),
        val_images=str(val / "JPEGImages"),
    )
    trainer = Trainer(config)
    assert trainer.classes.names == ("cat", "dog")
    dog = 2
    assert trainer.train_set.targets.labels[1].tolist() == [dog]
    assert trainer.val_set.targets.labels[0].tolist() == [dog]  # was cat's label before
    truth = trainer.ground_truth()
    assert truth["categories"] == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    assert [a["category_id"] for a in truth["annotations"]] == [dog]


def test_coco_splits_that_name_an_id_differently_are_refused(tmp_path):
    from noisybox.formats import read_annotations
    from noisybox.training.classes import class_table

    from .datasets import coco_document

    train, val = coco_document(), coco_document()
    val["categories"][0]["name"] = "something else"
    write_coco(tmp_path / "train.json", train)
    write_coco(tmp_path / "val.json", val)
    with pytest.raises(Exception, match="must number their classes alike"):
        class_table(
            read_annotations(tmp_path / "train.json"), read_annotations(tmp_path / "val.json")
        )


def test_bench_derives_again_when_the_source_changed(tmp_path):
    from noisybox.benchmark.grid import RunSpec
    from noisybox.benchmark.runner import derive_training_data
    from noisybox.formats import read_annotations
    from noisybox.manifest import checksum
    from noisybox.training.trainer import TrainConfig

    from .datasets import coco_document

    source = write_coco(tmp_path / "train.json", coco_document(seed=0))
    base = TrainConfig(train_annotations=str(source), val_annotations=str(source), images=".")
    spec = RunSpec(1.0, 0.2, 0, "iou")
    derived = derive_training_data(
        base, spec, tmp_path / "data", {"train_annotations": checksum(source)}
    )
    first = read_annotations(derived["train_annotations"]).boxes.copy()
    write_coco(source, coco_document(seed=5))  # the user edits the source, no run finished
    derive_training_data(base, spec, tmp_path / "data", {"train_annotations": checksum(source)})
    manifest = json.loads((tmp_path / "data" / "frac1-eta0.2-seed0.json.manifest.json").read_text())
    assert manifest["input"]["checksum"] == checksum(source)
    again = read_annotations(derived["train_annotations"]).boxes
    assert again.shape != first.shape or (again != first).any()


def _record(settings, run_id, steps, m_ap):
    from noisybox.report.tables import METRICS

    return {
        "run_id": run_id,
        "settings": settings,
        "fraction": 1.0,
        "eta": 0.0,
        "seed": 0,
        "loss": "iou",
        "metrics": dict.fromkeys(METRICS, m_ap),
        "grid_settings": {"max_steps": steps, "lr": 0.004},
    }


def test_report_never_averages_runs_of_different_settings(tmp_path, capsys):
    from noisybox.benchmark.store import append_record

    append_record(tmp_path / "results" / "a.jsonl", _record("aaaa1111", "r", 800, 30.0))
    append_record(tmp_path / "results" / "b.jsonl", _record("bbbb2222", "r", 1000, 50.0))
    code, out, err = run(["report", tmp_path], capsys)
    assert code == 2 and one_line_error(err) and out == ""
    assert "2 different settings" in err and "max_steps 800 / 1000" in err
    code, out, _ = run(["report", tmp_path, "--settings", "bbbb"], capsys)
    assert code == 0 and "50.00" in out and "30.00" not in out


def test_arms_in_two_stores_compare_only_when_one_setting_differs(tmp_path):
    """load_arms: a warm-up arm in its own store joins its study's table, named by the
    setting; a store that differs in anything else is refused."""
    from noisybox.benchmark.store import append_record
    from noisybox.errors import NoisyboxError
    from noisybox.report.tables import load_arms, robustness_table

    study, arm, other = tmp_path / "study", tmp_path / "arm", tmp_path / "other"
    for seed, (base, alpha, warm) in enumerate([(30.0, 25.0, 31.0), (32.0, 26.0, 33.0)]):
        for folder, loss, value, extra in (
            (study, "iou", base, {}),
            (study, "alpha-iou", alpha, {}),
            (arm, "alpha-iou", warm, {"alpha_warmup": 400}),
            (other, "alpha-iou", warm, {"alpha_warmup": 400, "max_steps": 900}),
        ):
            record = _record(f"{folder.name}0000", f"{loss}{seed}", 800, value)
            record["grid_settings"].update(extra)
            append_record(folder / "results" / "r.jsonl", {**record, "seed": seed, "loss": loss})
    frame, problems = load_arms([study, arm], vary="alpha_warmup")
    assert not problems
    assert sorted(frame["loss"].unique()) == ["alpha-iou", "alpha-iou, alpha_warmup 400", "iou"]
    table = robustness_table(frame, baseline="iou")
    warm = table.values.loc[(1.0, 0.0, "alpha-iou, alpha_warmup 400 vs iou"), "mAP"]
    assert warm == pytest.approx(100 * (32 - 31) / 31)  # of the means over seeds
    with pytest.raises(NoisyboxError, match="max_steps"):
        load_arms([study, other], vary="alpha_warmup")


@pytest.mark.slow
def test_two_bench_processes_on_one_folder_never_repeat_or_destroy_a_run(tmp_path):
    from noisybox.benchmark.store import read_records
    from noisybox.shapes import ShapesConfig, make_shapes_dataset

    data = tmp_path / "shapes"
    make_shapes_dataset(
        data, ShapesConfig(images=12, image_size=64, min_size=10, max_size=28, max_shapes=2), seed=1
    )
    out = tmp_path / "bench"
    args = [
        sys.executable,
        "-m",
        "noisybox",
        "bench",
        "--data",
        str(data),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--loss",
        "iou",
        "--loss",
        "alpha-iou",
        "--eta",
        "0",
        "--eta",
        "0.2",
        "--seed",
        "0",
        "--max-steps",
        "3",
        "--img-size",
        "64",
        "--batch-size",
        "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=600)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    lines = [
        json.loads(line)
        for path in (out / "results").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert sorted(r["run_id"] for r in lines) == sorted(r["run_id"] for r in read_records(out)[0])
    assert len(lines) == 4 and all(r["metrics"]["mAP"] is not None for r in lines)
    assert not list((out / "runs").glob("*.lock"))


def test_a_lock_of_a_dead_process_is_taken_over_and_a_live_one_respected(tmp_path):
    from noisybox.atomic import _host_tag
    from noisybox.benchmark.locks import acquire, lock_path, release

    run_dir = tmp_path / "runs" / "r"
    lock_path(run_dir).parent.mkdir(parents=True)
    lock_path(run_dir).write_text(f"{_host_tag()} 1\n")  # pid 1 lives: held
    assert not acquire(run_dir)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lock_path(run_dir).write_text(f"{_host_tag()} {int(dead.stdout)}\n")
    assert acquire(run_dir) and not acquire(run_dir)
    release(run_dir)
    assert not lock_path(run_dir).exists()


def test_size_ranges_without_boxes_are_n_a_as_pycocotools_says(tmp_path, capsys):
    """Reference: pycocotools' summary gives -1 for APs where no box is small."""
    from noisybox.evaluate import evaluate_detections

    from .datasets import pycocotools_eval

    truth = {
        "images": [{"id": 1, "width": 400, "height": 400}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 10, 100, 100],
                "area": 10000,
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "box"}],
    }
    found = [{"image_id": 1, "category_id": 1, "bbox": [12, 10, 100, 98], "score": 0.9}]
    reference = pycocotools_eval(truth, found, summarize=True)
    assert reference.stats[3] == -1 and reference.stats[4] == -1  # APs and APm: no data
    for backend in ("faster", "pycocotools"):
        metrics = evaluate_detections(truth, found, backend).metrics
        assert metrics["APs"] is None and metrics["APm"] is None
        assert metrics["APl"] == pytest.approx(reference.stats[5] * 100)
    assert evaluate_detections(truth, [], "faster").metrics["APs"] is None
    write_coco(tmp_path / "gt.json", truth)
    (tmp_path / "dt.json").write_text(json.dumps(found))
    code, out, _ = run(["eval", "--gt", tmp_path / "gt.json", "--dt", tmp_path / "dt.json"], capsys)
    assert code == 0 and "n/a" in out
    code, out, _ = run(
        ["eval", "--gt", tmp_path / "gt.json", "--dt", tmp_path / "dt.json", "--json"], capsys
    )
    assert json.loads(out)["metrics"]["APs"] is None


# ---- images, runs and VOC details -------------------------------------------------------


def _voc_year_with_images(root, names=("a", "b", "c", "d"), difficult=()):
    from PIL import Image

    from .datasets import VOC_OBJECT, VOC_TEMPLATE

    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for name in names:
        objects = VOC_OBJECT.format(label="cat", x1=10, y1=12, x2=60, y2=50)
        if name in difficult:
            objects += VOC_OBJECT.format(label="cat", x1=62, y1=5, x2=90, y2=30).replace(
                "<difficult>0</difficult>", "<difficult>1</difficult>"
            )
        text = VOC_TEMPLATE.format(name=name, width=96, height=80, objects=objects)
        (root / "Annotations" / f"{name}.xml").write_text(text)
        Image.new("RGB", (96, 80), (90, 80, 120)).save(root / "JPEGImages" / f"{name}.jpg")
    return root


def _train_args(root, out) -> list:
    """``noisybox train`` on a VOC folder from ``_voc_year_with_images``, on the CPU."""
    annotations = root / "Annotations"
    images = root / "JPEGImages"
    return ["train", "--train-ann", annotations, "--val-ann", annotations, "--images", images,
            "--device", "cpu", "--out", out]  # fmt: skip


def _toy_train_config(root, out, **overrides):
    from noisybox.training.trainer import TrainConfig

    settings = dict(
        train_annotations=str(root / "Annotations"),
        val_annotations=str(root / "Annotations"),
        images=str(root / "JPEGImages"),
        device="cpu",
        image_size=64,
        batch_size=2,
        max_steps=2,
        out=str(out),
    )
    return TrainConfig(**{**settings, **overrides})


def test_a_truncated_image_stops_training_before_the_first_step_naming_it(tmp_path, capsys):
    from noisybox.training.trainer import Trainer

    root = _voc_year_with_images(tmp_path / "voc")
    broken = root / "JPEGImages" / "b.jpg"
    broken.write_bytes(broken.read_bytes()[:200])  # cut short, as a failed download
    args = [*_train_args(root, tmp_path / "run"), "--img-size", 64, "--max-steps", 2]
    code, _, err = run(args, capsys)
    assert code == 2 and one_line_error(err) and "b.jpg: cannot be decoded" in err
    assert "--on-invalid skip" in err and not (tmp_path / "run").exists()
    trainer = Trainer(_toy_train_config(root, tmp_path / "skip", on_invalid="skip"))
    assert len(trainer.train_set) == 3 and len(trainer.val_set) == 3
    names = [i["file_name"] for i in trainer.ground_truth()["images"]]
    assert names == ["a.jpg", "c.jpg", "d.jpg"]
    code, out, _ = run(
        ["inspect", root / "Annotations", "--images", root / "JPEGImages", "--json"], capsys
    )
    invalid = json.loads(out)["invalid"]
    assert code == 0 and [i["file"] for i in invalid] == ["b.jpg"]


def test_an_image_link_out_of_the_image_folder_is_never_followed(tmp_path):
    from noisybox.errors import NoisyboxError
    from noisybox.images import find_image

    root = _voc_year_with_images(tmp_path / "voc")
    secret = tmp_path / "secret.jpg"
    (root / "JPEGImages" / "a.jpg").rename(secret)
    (root / "JPEGImages" / "a.jpg").symlink_to(secret)
    with pytest.raises(NoisyboxError, match="leads outside"):
        find_image(root / "JPEGImages", "a.jpg")
    with pytest.raises(NoisyboxError, match="leads outside"):
        find_image(root / "JPEGImages", "a")  # a YOLO-style name without suffix
    inside = root / "JPEGImages" / "b-link.jpg"
    inside.symlink_to(root / "JPEGImages" / "b.jpg")
    assert find_image(root / "JPEGImages", "b-link.jpg") == (root / "JPEGImages" / "b.jpg")


def test_a_16_bit_png_is_scaled_not_whitened(tmp_path):
    from PIL import Image

    from noisybox.images import read_rgb

    values = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "depth.png")
    with Image.open(tmp_path / "depth.png") as image:
        assert image.mode.startswith("I")
    pixels = read_rgb(tmp_path / "depth.png")
    assert pixels.shape == (48, 64, 3) and pixels.dtype == np.uint8
    assert pixels.min() == 0 and pixels.max() == 255 and len(np.unique(pixels)) > 200
    np.testing.assert_array_equal(pixels[..., 0], np.round(values / 65535 * 255))


def test_a_run_killed_before_its_first_checkpoint_starts_over(tmp_path, capsys):
    from noisybox.training.trainer import train_and_evaluate

    root = _voc_year_with_images(tmp_path / "voc")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".noisybox.json").write_text('{"tool": "noisybox"}')  # what a kill before step
    (out / "config.json").write_text("{}")  # 100 leaves: the mark, a config, some metrics
    (out / "metrics.jsonl").write_text('{"step": 10, "loss": 9.0}\n')
    lines = []
    result = train_and_evaluate(_toy_train_config(root, out), log=lines.append)
    assert any("cut short before its first checkpoint; starting it over" in line for line in lines)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert result["metrics"] and [r["step"] for r in logged] == [2]  # the old line is gone
    code, _, err = run(_train_args(root, out), capsys)
    assert code == 2 and "holds a run already" in err  # a finished run is never redone


def test_voc_difficult_boxes_are_ignore_regions(tmp_path):
    from noisybox.evaluate import evaluate_detections
    from noisybox.formats import read_annotations
    from noisybox.training.trainer import Trainer

    root = _voc_year_with_images(tmp_path / "voc", difficult=("a",))
    annotations = read_annotations(root / "Annotations")
    assert annotations.crowd.tolist() == [False, True, False, False, False]
    trainer = Trainer(_toy_train_config(root, tmp_path / "run"))
    truth = trainer.ground_truth()
    crowd = [a for a in truth["annotations"] if a["iscrowd"]]
    assert len(crowd) == 1 and crowd[0]["bbox"] == [62.0, 5.0, 28.0, 25.0]
    assert sum(len(labels) for labels in trainer.train_set.targets.labels) == 4  # not trained
    perfect = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 0.9,
        }
        for a in truth["annotations"]
    ]
    # a detection on the difficult box is no false positive: AP stays 100
    assert evaluate_detections(truth, perfect).metrics["AP50"] == pytest.approx(100)


def test_an_infinite_voc_image_size_is_an_invalid_record(tmp_path, capsys):
    root = _voc_year_with_images(tmp_path / "voc", names=("a",))
    xml = root / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<width>96</width>", "<width>inf</width>"))
    code, _, err = run(
        ["corrupt", root / "Annotations", "--eta", "0.2", "-o", tmp_path / "n"], capsys
    )
    assert code == 2 and one_line_error(err) and "infinite image width/height" in err


# ---- smaller silent errors and crashes --------------------------------------------------


def test_a_latin_1_voc_file_is_written_back_in_latin_1(tmp_path, capsys):
    from noisybox.formats import read_annotations

    folder = tmp_path / "Annotations"
    folder.mkdir()
    xml = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<annotation><filename>a.jpg</filename>'
        "<size><width>100</width><height>80</height><depth>3</depth></size><object>"
        "<name>piña</name><difficult>0</difficult><bndbox><xmin>10</xmin><ymin>10</ymin>"
        "<xmax>50</xmax><ymax>40</ymax></bndbox></object></annotation>\n"
    )
    (folder / "a.xml").write_bytes(xml.encode("latin-1"))
    assert run(["corrupt", folder, "--eta", "0.3", "-o", tmp_path / "n"], capsys)[0] == 0
    written = (tmp_path / "n" / "a.xml").read_bytes()
    assert written.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert "piña".encode("latin-1") in written and "piña".encode() not in written
    assert list(read_annotations(tmp_path / "n").categories.values()) == ["piña"]


def test_yolo_class_ids_beyond_2_to_the_31_are_invalid(tmp_path, capsys):
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "a.txt").write_text(f"{2**63} 0.5 0.5 0.2 0.2\n")
    code, _, err = run(["corrupt", folder, "--eta", "0.2", "-o", tmp_path / "n"], capsys)
    assert code == 2 and one_line_error(err) and "integer class in [0, 2^31)" in err


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["annotations"][0].update(bbox=[True, 0, 20, 30]), "bbox must be 4 numbers"),
        (lambda d: d["annotations"][0].update(category_id=True), "unknown category_id True"),
        (lambda d: d["annotations"][0].update(iscrowd="0"), "iscrowd must be 0 or 1"),
        (lambda d: d["annotations"][0].update(iscrowd=1.0), "iscrowd must be 0 or 1"),
    ],
)
def test_coco_booleans_and_text_flags_are_invalid_on_every_path(tmp_path, capsys, edit, message):
    """The vectorized parse used to read true as 1 and "0" as crowd."""
    from .datasets import coco_document

    document = coco_document()
    edit(document)
    source = write_coco(tmp_path / "train.json", document)
    code, _, err = run(["corrupt", source, "--eta", "0.2", "-o", tmp_path / "n.json"], capsys)
    assert code == 2 and one_line_error(err) and message in err


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["images"][0].pop("width"),
        lambda d: d["categories"].append({"name": "no id"}),
        lambda d: d["images"].append(dict(d["images"][0])),
        lambda d: d["annotations"][0].update(bbox=[1, 1, 0, 5]),
        lambda d: d["annotations"][0].update(category_id=999),
    ],
)
def test_on_invalid_skip_writes_an_output_inspect_finds_clean(tmp_path, capsys, edit):
    from .datasets import coco_document

    document = coco_document()
    edit(document)
    source = write_coco(tmp_path / "train.json", document)
    output = tmp_path / "out.json"
    args = ["corrupt", source, "--eta", "0.2", "--on-invalid", "skip", "-o", output]
    assert run(args, capsys)[0] == 0
    code, out, _ = run(["inspect", output, "--json"], capsys)
    assert code == 0 and json.loads(out)["invalid"] == []


def test_ids_beyond_64_bits_are_ids(tmp_path, capsys):
    from noisybox.formats import read_annotations

    from .datasets import coco_document

    document = coco_document()
    document["annotations"][0]["id"] = 2**70
    document["images"][0]["id"] = -(2**80)
    for record in document["annotations"]:
        if record["image_id"] == document["images"][1]["id"] - 1:
            record["image_id"] = -(2**80)
    source = write_coco(tmp_path / "train.json", document)
    code, _, err = run(["corrupt", source, "--eta", "0.2", "-o", tmp_path / "n.json"], capsys)
    assert code == 0, err
    assert len(read_annotations(tmp_path / "n.json")) == len(read_annotations(source))


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"images": [], "annotations": [], "x": ' + b"9" * 5000 + b"}", "too long to read"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_json_beyond_pythons_limits_is_one_line(tmp_path, capsys, content, message):
    source = tmp_path / "train.json"
    source.write_bytes(content)
    for args in (
        ["corrupt", source, "--eta", "0.2", "-o", tmp_path / "n.json"],
        ["inspect", source],
        ["eval", "--gt", source, "--dt", source],
    ):
        code, _, err = run(args, capsys)
        assert code == 2 and one_line_error(err) and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.json"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda gt, dt: gt["annotations"][0].update(bbox=[1, float("nan"), 3, 4]), "bbox"),
        (lambda gt, dt: gt["annotations"][0].update(iscrowd="0"), "iscrowd"),
        (lambda gt, dt: gt["annotations"][0].update(image_id=[1]), "image_id"),
        (lambda gt, dt: gt.update(images={"id": 1}), "must be lists"),
        (lambda gt, dt: dt[0].update(score=None), "finite score"),
        (lambda gt, dt: dt[0].update(score=float("nan")), "finite score"),
        (lambda gt, dt: dt[0].update(image_id=[1, 2]), "image_id"),
        (lambda gt, dt: dt[0].update(bbox=[1, 2, 3]), "bbox"),
        (lambda gt, dt: dt[0].pop("category_id"), "category_id"),
        (lambda gt, dt: dt.append("text"), "detections[1]"),
    ],
)
def test_eval_inputs_are_validated_in_one_line(tmp_path, capsys, edit, message):
    from .datasets import coco_document

    truth = coco_document()
    found = [
        {
            "image_id": truth["images"][0]["id"],
            "category_id": 1,
            "bbox": [1, 2, 30, 40],
            "score": 0.5,
        }
    ]
    edit(truth, found)
    (tmp_path / "gt.json").write_text(json.dumps(truth))
    (tmp_path / "dt.json").write_text(json.dumps(found))
    for backend in ("faster", "pycocotools"):
        code, _, err = run(
            [
                "eval",
                "--gt",
                tmp_path / "gt.json",
                "--dt",
                tmp_path / "dt.json",
                "--backend",
                backend,
            ],
            capsys,
        )
        assert code == 2 and one_line_error(err) and message in err


@pytest.mark.parametrize("weight", ['"heavy"', "[1]", "Infinity", "-1", "true", "{}"])
def test_odd_confusion_weights_are_one_line(tmp_path, capsys, weight):
    from .datasets import coco_document

    document = coco_document()
    names = [c["name"] for c in document["categories"]]
    source = write_coco(tmp_path / "train.json", document)
    weights = tmp_path / "confusion.json"
    weights.write_text(f'{{"{names[0]}": {{"{names[1]}": {weight}}}}}')
    code, _, err = run(
        ["corrupt", source, "--flip", "0.5", "--confusion", weights, "-o", tmp_path / "n.json"],
        capsys,
    )
    assert code == 2 and one_line_error(err) and "confusion" in err
    assert not (tmp_path / "n.json").exists()


def test_results_lines_with_null_or_odd_metrics_are_reported_and_skipped(tmp_path, capsys):
    from noisybox.benchmark.store import append_record

    good = _record("s1", "frac1-eta0-seed0-iou", 800, 30.0)
    append_record(tmp_path / "results" / "r.jsonl", good)
    for bad in (
        {**good, "run_id": "x", "metrics": None},
        {**good, "run_id": "y", "metrics": {"mAP": "high"}},
        {**good, "run_id": "z", "seed": "0"},
    ):
        append_record(tmp_path / "results" / "r.jsonl", bad)
    code, out, err = run(["report", tmp_path], capsys)
    assert code == 0 and "30.00" in out
    assert err.count("not a run record") == 3 and "Traceback" not in err


def test_report_and_figure_outputs_are_checked_before_anything_is_written(tmp_path, capsys):
    from noisybox.benchmark.store import append_record

    append_record(tmp_path / "results" / "r.jsonl", _record("s1", "frac1-eta0-seed0-iou", 8, 30))
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "ap_vs_iou.png").write_bytes(b"my own figure")
    table = tmp_path / "table.md"
    code, _, err = run(["report", tmp_path, "-o", table, "--plots", plots], capsys)
    assert code == 2 and one_line_error(err) and "ap_vs_iou.png: exists already" in err
    assert not table.exists() and (plots / "ap_vs_iou.png").read_bytes() == b"my own figure"
    assert run(["report", tmp_path, "-o", table, "--plots", plots, "--overwrite"], capsys)[0] == 0
    figure = tmp_path / "curves.png"
    figure.write_bytes(b"mine")
    code, _, err = run(["losses", "plot", "-o", figure], capsys)
    assert code == 2 and "exists already" in err and figure.read_bytes() == b"mine"


def test_train_and_bench_never_write_into_inputs_or_folders_they_did_not_write(
    tmp_path, shapes, capsys
):
    """Found by an adversarial review: --out over an input, or over a user's folder."""
    import shutil

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(shapes / "annotations" / "train.json", project / "train.json")
    shutil.copy(shapes / "annotations" / "val.json", project / "ground_truth.json")
    before = digest(project)
    small = ["--max-steps", "1", "--img-size", "64", "--device", "cpu"]
    code, _, err = run(["train", "--train-ann", project / "train.json", "--val-ann",
                        project / "ground_truth.json", "--images", shapes / "images",
                        *small, "--out", project], capsys)  # fmt: skip
    assert code == 2 and one_line_error(err) and "the input" in err
    theirs = tmp_path / "mine"
    theirs.mkdir()
    (theirs / "config.json").write_text('{"a": 1}')
    (theirs / "metrics.jsonl").write_text("precious\n")
    for command in (["train", "--data", shapes], ["bench", "--data", shapes, "--seed", "0"]):
        code, _, err = run([*command, *small, "--out", theirs], capsys)
        assert code == 2 and one_line_error(err) and "not a" in err and "noisybox wrote" in err
    assert (theirs / "metrics.jsonl").read_text() == "precious\n" and digest(project) == before
    code, _, err = run(["bench", "--data", shapes, *small, "--out", shapes / "bench"], capsys)
    assert code == 2 and "the input" in err and not (shapes / "bench").exists()


def test_output_manifest_and_box_table_change_together(tmp_path, capsys):
    """Found by an adversarial review: a stale per-box table beside a replaced output, and a
    manifest written long before its output (a kill in between left them disagreeing)."""
    from noisybox.atomic import AtomicBatch

    source = write_coco(tmp_path / "a.json")
    output = tmp_path / "m.json"
    assert run(["corrupt", source, "--eta", "0.1", "-o", output, "--per-box"], capsys)[0] == 0
    assert run(["corrupt", source, "--eta", "0.3", "-o", output, "--overwrite"], capsys)[0] == 0
    assert not (tmp_path / "m.json.boxes.csv").exists()  # it described the η = 0.1 output
    manifest = json.loads((tmp_path / "m.json.manifest.json").read_text())
    assert manifest["noise"]["eta"] == 0.3
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(RuntimeError), AtomicBatch() as batch:  # killed half-way: no change
        batch.file(output, b"new output")
        batch.folder(tmp_path / "folder", {"x.txt": b"x"})
        raise RuntimeError
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_more_cases_an_adversarial_review_found(tmp_path, capsys, monkeypatch):
    from .datasets import coco_document

    source = write_coco(tmp_path / "a.json")
    for output in (".", "/", ""):  # not names to write to: one line, nothing written
        code, _, err = run(["corrupt", source, "--eta", "0.1", "-o", output], capsys)
        assert code == 2 and one_line_error(err) and "not a name to write to" in err
    default = tmp_path / "a.noisy-eta0.2-seed0.json"
    default.write_text("a file of mine at the default output path")
    code, _, err = run(["corrupt", source, "--eta", "0.2", "--overwrite"], capsys)
    assert code == 2 and "noisybox did not write it" in err and default.read_text().startswith("a")
    default.unlink()
    assert run(["corrupt", source, "--eta", "0.2"], capsys)[0] == 0
    assert run(["corrupt", source, "--eta", "0.2", "--overwrite"], capsys)[0] == 0  # its own
    document = coco_document()
    document["annotations"][0]["id"] = 2**80
    big = write_coco(tmp_path / "big.json", document)
    args = ["corrupt", big, "--eta", "0.1", "--spurious", "0.3", "-o", tmp_path / "b.json"]
    assert run(args, capsys)[0] == 0
    assert (
        max(a["id"] for a in json.loads((tmp_path / "b.json").read_text())["annotations"]) > 2**80
    )
    voc = write_voc(tmp_path / "voc" / "Annotations", files=1)
    outside = tmp_path / "outside.xml"
    (voc / "000000.xml").rename(outside)
    (voc / "000000.xml").symlink_to(outside)
    code, _, err = run(["inspect", voc], capsys)
    assert code == 2 and one_line_error(err) and "leads outside" in err
    (tmp_path / "sj.xml").write_bytes(b'<?xml version="1.0" encoding="shift_jis"?><annotation/>')
    code, _, err = run(["inspect", tmp_path / "sj.xml"], capsys)
    assert code == 2 and one_line_error(err)
    monkeypatch.chdir(voc)  # `corrupt .` from inside the folder: beside it, not a traceback
    voc.joinpath("000000.xml").unlink()
    write_voc(voc, files=1)
    assert run(["corrupt", ".", "--eta", "0.1"], capsys)[0] == 0
    assert (voc.parent / "Annotations-noisy-eta0.1-seed0").is_dir()


def test_library_errors_name_parameters_and_the_cli_shows_flags(capsys):
    from noisybox.errors import NoisyboxError
    from noisybox.noise import NoiseConfig

    with pytest.raises(NoisyboxError, match=r"^eta must be a number >= 0") as caught:
        NoiseConfig(eta=-1)
    assert caught.value.parameter == "eta"
    code, _, err = run(["make-dataset", "shapes", "--out", "x", "--image-size", 8], capsys)
    assert code == 2 and "--image-size must be in [16, 4096]" in err


@pytest.mark.parametrize(
    ("message", "parameter", "shown"),
    [
        ("a: exists already; pass `overwrite=True`", None, "a: exists already; pass --overwrite"),
        ('images (pass `on_invalid="skip"` to leave them out)', None,
         "images (pass --on-invalid skip to leave them out)"),
        ("weights imagenet: not cached; pass `weights=PATH`", "weights",
         "--weights imagenet: not cached; pass --weights PATH"),
        ("give `losses`, `etas`, `fractions`, `seeds`; try a lower `lr`; pass `images_dir=DIR`",
         None, "give --loss, --eta, --fraction, --seed; try a lower --lr; pass --images DIR"),
        ("see `noisybox inspect`; weights of `a b`", None,
         "see `noisybox inspect`; weights of `a b`"),  # not a parameter: left alone
    ],
)  # fmt: skip
def test_a_hint_names_parameters_as_python_does_and_the_cli_as_flags(message, parameter, shown):
    from noisybox.cli import _as_flags

    assert _as_flags(NoisyboxError(message, parameter)) == shown


def test_hints_of_library_errors_name_no_flags(tmp_path, shapes):
    """From Python, a hint names a parameter as Python passes it; the same error on the
    command line names the flag."""
    from noisybox.training.trainer import Trainer

    config = toy_config(shapes, tmp_path / "run", max_steps=1)
    Trainer(config, log=lambda _: None).train()
    with pytest.raises(NoisyboxError) as raised:
        Trainer(config, log=lambda _: None)
    assert str(raised.value).endswith(
        "holds a run already; pass `resume=True` to continue it, or choose another `out=FOLDER`"
    )


def test_a_run_is_recorded_before_its_lock_is_released(tmp_path, shapes, monkeypatch):
    """Between a run's end and its record, another process holding no lock could claim the
    run again and train it twice (seen once in CI): the record must come first."""
    from noisybox.benchmark import runner
    from noisybox.benchmark.store import read_records

    out = tmp_path / "bench"
    seen = []
    release = runner.release

    def checked_release(run_dir):
        seen.append({r["run_id"] for r in read_records(out)[0]})
        release(run_dir)

    monkeypatch.setattr(runner, "release", checked_release)
    args = ["bench", "--data", str(shapes), "--out", str(out), "--device", "cpu", "--loss", "iou"]
    args += ["--eta", "0", "--seed", "0", "--max-steps", "1", "--img-size", "48"]
    assert main(args) == 0
    assert seen == [{"frac1-eta0-seed0-iou"}]
