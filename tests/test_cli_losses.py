"""``noisybox losses plot`` and the Figure 1 curves behind it."""

import numpy as np
import pytest
from noisybox.cli import main

from noisybox.loss_curves import loss_curves


def test_curves_come_from_the_loss_and_match_the_formula():
    curves = loss_curves([0.5, 1.0, 3.0], num=50)
    alphas = curves.alphas[:, None]
    np.testing.assert_allclose(curves.loss, 1 - curves.iou**alphas, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(curves.gradient, alphas * curves.iou ** (alphas - 1), rtol=1e-12)
    assert 0 < curves.iou.min() and curves.iou.max() < 1


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_writes_the_figure(tmp_path, suffix, capsys):
    out = tmp_path / "figs" / f"curves.{suffix}"
    assert main(["losses", "plot", "-o", str(out), "--alpha", "0.5", "--alpha", "3"]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data[:1000]
    assert "wrote" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "curves.jpg"], "figure must end in .png, .svg, .pdf"),
        (["--alpha", "-1"], "alphas must be positive"),
    ],
)
def test_plot_bad_input_is_one_line_and_writes_nothing(
    tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(tmp_path)
    assert main(["losses", "plot", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point_runs(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "c.png"
    done = subprocess.run(
        [sys.executable, "-m", "noisybox", "losses", "plot", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 10_000


def test_version(capsys):
    from noisybox import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"noisybox {__version__}"


def test_path_curves_come_from_the_registered_losses():
    from noisybox.loss_curves import path_curves

    slide = path_curves(["iou", "alpha-iou", "siou", "nwd"], "slide", num=201)
    t = slide.t
    iou = np.clip(1 - t, 0, None) / (1 + np.clip(t, None, 1))  # overlap over union, unit side
    np.testing.assert_allclose(slide.loss[0], 1 - iou * 256 / (256 + 1e-7), atol=1e-8)
    np.testing.assert_allclose(slide.loss[1], 1 - (iou * 256 / (256 + 1e-7)) ** 3, atol=1e-8)
    apart = t > 1.01
    assert (slide.gradient[0][apart] == 0).all()  # IoU loss has no gradient once apart
    assert (slide.gradient[2][apart] > 0).all() and (slide.gradient[3][apart] > 0).all()
    grow = path_curves(["giou"], "grow", num=50)
    assert grow.loss[0][-1] > 0 and grow.t.min() > 0


def test_plot_with_losses_and_list(tmp_path, capsys):
    out = tmp_path / "zoo.png"
    assert main(["losses", "plot", "-o", str(out), "--loss", "siou", "--loss", "alpha-siou:2"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    assert main(["losses", "list"]) == 0
    listed = capsys.readouterr().out
    from noisybox.losses import LOSSES

    names = {line.split()[0] for line in listed.splitlines() if line and not line[0].isspace()}
    assert names == set(LOSSES)
    assert "arXiv:2205.12740" in listed  # SIoU's source


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loss", "nope"], "unknown loss 'nope'"),
        (["--loss", "gwd:2"], "gwd takes no alpha"),
        (["--loss", "siou", "--alpha", "2"], "not both"),
    ],
)
def test_plot_loss_errors_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["losses", "plot", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
