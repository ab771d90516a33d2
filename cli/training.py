"""``noisybox make-dataset``: the built-in data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from noisybox.errors import NoisyboxError


def make_dataset(
    name: Annotated[str, typer.Argument(help="The dataset to make: shapes.")],
    out: Annotated[Path, typer.Option(help="Folder to create.")],
    images: Annotated[int, typer.Option(help="Number of images (train + val).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same files.")] = 0,
    image_size: Annotated[int, typer.Option(help="Square image side, pixels.")] = 128,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Generate a dataset with exact boxes: OUT/images/ and OUT/annotations/{train,val}.json."""
    from noisybox.shapes import ShapesConfig, make_shapes_dataset

    if name != "shapes":
        raise NoisyboxError(f"unknown dataset {name!r}; the built-in one is 'shapes'")
    config = ShapesConfig(
        images=images,
        image_size=image_size,
        min_size=max(4, image_size // 9),
        max_size=max(4, image_size * 7 // 16),
    )
    counts = make_shapes_dataset(out, config, seed=seed, overwrite=overwrite)
    typer.echo(
        f"wrote {out}: {counts['train_images']} train images ({counts['train_boxes']} boxes), "
        f"{counts['val_images']} val images ({counts['val_boxes']} boxes)"
    )
