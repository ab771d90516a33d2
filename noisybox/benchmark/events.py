"""What a running grid reports, for a progress display: one small type per event."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GridPlanned:
    """The grid's size and how much of it was finished before."""

    runs: int
    finished: int


@dataclass(frozen=True)
class RunEvent:
    """About run ``index`` (from 0) of the ``todo`` runs this process has left."""

    index: int
    todo: int


@dataclass(frozen=True)
class RunStarted(RunEvent):
    """The run called ``run`` started."""

    run: str


@dataclass(frozen=True)
class RunStep:
    """A logged training step of the current run, and the grid's estimated time left."""

    step: int
    total: int
    loss: float
    eta_s: float
    grid_eta_s: float


@dataclass(frozen=True)
class RunDone(RunEvent):
    """The run finished; ``record`` is what the store holds of it."""

    record: dict


@dataclass(frozen=True)
class GridLog:
    """A line the trainer or the grid said (notes and warnings)."""

    line: str


Event = GridPlanned | RunStarted | RunStep | RunDone | GridLog
