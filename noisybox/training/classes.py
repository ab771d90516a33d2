"""One class table per run, shared by the model, its detections and its ground truth.

Category ids mean different things in different formats. COCO's are the dataset's own and
agree between splits; VOC's are numbered per annotation set from the sorted class names (a
validation set without ``cat`` numbers ``dog`` 0 where the training set numbers it 1); YOLO's
are the class indices of the files, named by ``classes.txt``. The run's classes are
therefore matched by id for COCO (a name that differs between the splits is an error) and by
name otherwise. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..annotations import Annotations
from ..errors import NoisyboxError


@dataclass(frozen=True)
class ClassTable:
    """The classes of a run.

    Attributes:
        names: class names, by model label minus one (labels are 1..K; 0 is background).
        category_ids: the category id each label has in the run's ground truth and
            detections (COCO: the dataset's own ids; VOC and YOLO: the label itself).
        train_labels, val_labels: each split's category id -> model label.
    """

    names: tuple[str, ...]
    category_ids: tuple[int, ...]
    train_labels: dict[int, int]
    val_labels: dict[int, int]

    @property
    def category_of(self) -> dict[int, int]:
        """Model label -> the category id of the run's ground truth and detections."""
        return {label: c for label, c in enumerate(self.category_ids, start=1)}

    def categories(self) -> list[dict]:
        """The COCO ``categories`` of the run: every class, with the ids detections use."""
        return [
            {"id": category, "name": name}
            for category, name in zip(self.category_ids, self.names, strict=True)
        ]


def class_table(train: Annotations, val: Annotations) -> ClassTable:
    """The class table of a run trained on ``train`` and scored on ``val``."""
    if train.format == "coco" and val.format == "coco":
        return _by_id(train, val)
    names = sorted(set(train.categories.values()) | set(val.categories.values()))
    label_of_name = {name: label for label, name in enumerate(names, start=1)}
    return ClassTable(
        names=tuple(names),
        category_ids=tuple(range(1, len(names) + 1)),
        train_labels={c: label_of_name[n] for c, n in train.categories.items()},
        val_labels={c: label_of_name[n] for c, n in val.categories.items()},
    )


def _by_id(train: Annotations, val: Annotations) -> ClassTable:
    for category in sorted(set(train.categories) & set(val.categories)):
        if train.categories[category] != val.categories[category]:
            raise NoisyboxError(
                f"category id {category} is {train.categories[category]!r} in "
                f"{train.path} but {val.categories[category]!r} in {val.path}: the splits "
                "must number their classes alike"
            )
    merged = {**val.categories, **train.categories}
    ids = sorted(merged)
    labels = {category: label for label, category in enumerate(ids, start=1)}
    return ClassTable(
        names=tuple(merged[c] for c in ids),
        category_ids=tuple(ids),
        train_labels=labels,
        val_labels=labels,
    )
