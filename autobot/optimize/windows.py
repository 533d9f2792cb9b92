"""Walk-forward windows over a series of bars (indices into the strategy's bars).

With ``n`` bars, ``windows`` W, a train/test ratio R and a purge gap P, the test length is
L = (n - P) // (W + R) and the train length R * L: window k trains on [k L, k L + R L) (rolling)
or [0, k L + R L) (anchored), skips P bars, and tests on the next L bars. The test windows
follow each other without overlap, so their concatenation is one out-of-sample track.

The *final* window trains on the last R * L bars (anchored: all of them): the parameters a
user would deploy today, whose out-of-sample evidence is the walk-forward before it.

Each scored range is split into ``folds`` consecutive folds (the study prunes a trial after a
fold when it is hopeless). A run that scores a range starting at bar a starts ``lead`` bars
earlier so its indicators are warm at a; only the range's own bars are scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    index: int                     # -1: the final window
    train: tuple[int, int]         # [start, stop) bar indices
    test: tuple[int, int] | None   # None for the final window

    @property
    def name(self) -> str:
        return "final" if self.index < 0 else f"window-{self.index}"

    def folds(self, folds: int) -> list[tuple[int, int]]:
        """The train range split into ``folds`` consecutive parts."""
        a, b = self.train
        edges = np.linspace(a, b, max(1, folds) + 1).round().astype(int)
        return [(int(edges[k]), int(edges[k + 1])) for k in range(len(edges) - 1) if edges[k + 1] > edges[k]]


class WindowError(ValueError):
    pass


def walk_forward(n: int, windows: int = 5, ratio: float = 3.0, purge: int = 0, anchored: bool = False,
                 min_test: int = 50) -> list[Window]:
    """The walk-forward windows, then the final window (see the module docstring)."""
    if windows < 1:
        raise WindowError("--windows must be at least 1")
    if not ratio > 0:
        raise WindowError("--train-ratio must be above 0")
    test = int((n - purge) // (windows + ratio))
    if test < min_test:
        most = math.floor((n - purge) / min_test - ratio) if n > purge else 0
        fewer = f"use --windows {most} or fewer" if most >= 1 else "use a smaller --train-ratio or --purge"
        raise WindowError(f"{n} bars are too few for {windows} walk-forward windows with a train/test ratio of "
                          f"{ratio:g} and a purge of {purge} bars: each test window would have {max(test, 0)} bars "
                          f"(at least {min_test} needed); {fewer}, or more data")
    train = int(round(ratio * test))
    out = []
    for k in range(windows):
        start = 0 if anchored else k * test
        stop = k * test + train
        out.append(Window(k, (start, stop), (stop + purge, stop + purge + test)))
    final_start = 0 if anchored else n - train
    out.append(Window(-1, (final_start, n), None))
    return out


#: the fewest bars a fold of a train window may have (each fold is scored on its own)
MIN_FOLD_BARS = 50


def check_folds(windows: list[Window], folds: int, min_fold: int = MIN_FOLD_BARS) -> None:
    """Each fold of the shortest train window has at least ``min_fold`` bars, else :class:`WindowError`
    naming the bars and the most folds that fit."""
    train = min(w.train[1] - w.train[0] for w in windows)
    if train // max(folds, 1) >= min_fold:
        return
    most = train // min_fold
    fix = f"give --folds {most} or fewer" if most >= 1 else \
        "give a larger --train-ratio, fewer --windows, or more data"
    raise WindowError(f"--folds {folds}: the shortest train window has {train} bars, so a fold would have "
                      f"{train // max(folds, 1)} (at least {min_fold} needed); {fix}")


def in_sample_only(n: int) -> list[Window]:
    """``--no-walk-forward``: one window, all bars, no test (the report says in-sample)."""
    return [Window(-1, (0, n), None)]
