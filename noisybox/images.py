"""Image files of a dataset: found by name without leaving the image folder, checked, and
read as 8-bit RGB.

A name (or a symbolic link it meets) that leads out of the image folder is never followed.
A file that cannot be decoded to the end (a truncated JPEG, a PNG with a bad chunk) is
reported by :func:`check_images` before any training step, naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .annotations import Annotations
from .errors import NoisyboxError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def find_image(images_dir: Path, name: str) -> Path:
    """The image called ``name`` in ``images_dir`` (for YOLO, a label path: any image suffix),
    as a resolved path inside ``images_dir``.

    A name whose file, or a symbolic link on the way to it, lies outside ``images_dir`` is an
    error that says so: it is never followed.
    """
    root = Path(images_dir).resolve()
    plain = root / name
    options = [plain] if plain.suffix.lower() in IMAGE_SUFFIXES else []
    options += [plain.with_suffix(suffix) for suffix in IMAGE_SUFFIXES]
    options += [root / Path(name).with_suffix(suffix).name for suffix in IMAGE_SUFFIXES]
    for option in options:
        if option.is_file() or option.is_symlink():
            found = option.resolve()
            if not found.is_relative_to(root):
                raise NoisyboxError(
                    f"{name}: the image path leads outside {images_dir}; not followed"
                )
            if found.is_file():
                return found
    if not plain.resolve().is_relative_to(root):
        raise NoisyboxError(f"{name}: the image name points outside {images_dir}; not followed")
    raise NoisyboxError(f"{images_dir}: no image for {name!r}")


def read_rgb(path: Path) -> np.ndarray:
    """The image at ``path`` as a writable ``(H, W, 3)`` uint8 array.

    16-bit and 32-bit grayscale images (PNG ``I;16``, TIFF ``I``/``F``) are scaled to 8 bits
    from their type's full range (PIL's own conversion would clip them to white); palette,
    grayscale and RGBA images become RGB as PIL converts them.
    """
    from PIL import Image

    try:
        with Image.open(path) as loaded:
            if loaded.mode.startswith("I;16") or loaded.mode in ("I", "F"):
                values = np.asarray(loaded, dtype=np.float64)
                top = 65535.0 if loaded.mode.startswith("I;16") else max(1.0, float(values.max()))
                gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
                return np.repeat(gray[:, :, None], 3, axis=2)
            return np.array(loaded.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise NoisyboxError(f"{path}: cannot be decoded ({error})") from None


def image_problem(images_dir: Path, name: str) -> str | None:
    """Why the image ``name`` cannot be used (missing, outside the folder, undecodable), or
    ``None``. Decodes the whole file."""
    from PIL import Image

    try:
        path = find_image(images_dir, name)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
    except NoisyboxError as error:
        return str(error)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"{Path(images_dir) / name}: cannot be decoded ({error})"
    except Image.DecompressionBombWarning as error:
        return f"{Path(images_dir) / name}: refused as a decompression bomb ({error})"
    return None


def check_images(annotations: Annotations, images_dir: Path) -> dict[int, str]:
    """Every image of ``annotations`` that cannot be used, by image row: what is wrong."""
    problems = {}
    for index, name in enumerate(annotations.image_name):
        problem = image_problem(images_dir, name)
        if problem is not None:
            problems[index] = problem
    return problems
