"""Nothing a user gave is lost: every path a command writes is checked first (the reliability
issue's data-loss defects, each reproduced as the review found it)."""

import os
import subprocess
import sys

import pytest
from noisybox.cli import main

from noisybox.atomic import _host_tag, atomic_directory, atomic_write, remove_stale_temporaries
from noisybox.outputs import MARKER

from .datasets import digest, write_coco, write_voc, write_yolo


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
    from PIL import Image

    source = write_voc(tmp_path / "Annotations", files=2)
    images = tmp_path / "JPEGImages"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (500, 375), (40 * i, 90, 160)).save(images / f"{i:06d}.jpg")
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
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
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
        ("x" * 300 + ".json", "longer than 255 bytes"),
        ("afile/inside.json", "is not a folder"),
    ],
)
def test_impossible_output_paths_are_one_line(tmp_path, capsys, output, message):
    source = write_coco(tmp_path / "train.json")
    (tmp_path / "afile").write_text("a file, not a folder")
    code, _, err = run(["corrupt", source, "--eta", "0.2", "-o", tmp_path / output], capsys)
    assert code == 2 and one_line_error(err) and message in err.lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "train.json"]
