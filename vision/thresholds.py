"""Per-class confidence thresholds chosen on a labelled validation set: the cheapest precision lever.

Input is, per class, how many true objects the validation frames hold and the outcome at each
candidate threshold (true and false positives of findings matched on the ground). The choice
maximises F-beta (F1 by default; beta < 1 favours precision) among the thresholds that keep a share
of the recall, and, among equals, stays nearest the current threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dockpatrol.errors import InvalidInput

#: Thresholds are never set below this: the detector's own NMS floor, and noise below it.
MIN_THRESHOLD = 0.05
MAX_THRESHOLD = 0.95


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold picked for one class and what it scored on the validation frames."""

    class_name: str
    threshold: float
    truths: int
    true_positives: int
    false_positives: int

    @property
    def precision(self) -> float:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else math.nan

    @property
    def recall(self) -> float:
        return self.true_positives / self.truths if self.truths else math.nan


def candidate_thresholds(step: float = 0.01) -> np.ndarray:
    """The grid searched: MIN_THRESHOLD..MAX_THRESHOLD."""
    return np.round(np.arange(MIN_THRESHOLD, MAX_THRESHOLD + 1e-9, step), 4)


def f_beta(tp: int, fp: int, fn: int, *, beta: float) -> float:
    b2 = beta * beta
    denominator = (1 + b2) * tp + b2 * fn + fp
    return (1 + b2) * tp / denominator if denominator else 0.0


def choose_threshold(class_name: str, *, current: float, outcome: Callable[[float], tuple[int, int, int]],
                     grid: Sequence[float] | None = None, beta: float = 1.0,
                     min_recall: float = 0.0) -> ThresholdChoice:
    """Best threshold for one class; ``outcome(t)`` returns (true positives, false positives, truths) at t.

    Only thresholds keeping at least ``min_recall`` of the truths the lowest threshold finds are
    considered: with a handful of validation truths per class, F-beta alone happily trades most of
    a class's recall for one fewer false alarm.

    A class with no validation truths keeps ``current`` (nothing to learn from), unless it only
    produced false alarms: then the lowest threshold that silences them, capped at MAX_THRESHOLD.
    """
    if beta <= 0:
        raise InvalidInput(f"beta must be positive, got {beta}")
    grid = list(candidate_thresholds() if grid is None else grid)
    results = [(float(t), *outcome(float(t))) for t in grid]
    truths = results[0][3] if results else 0
    if truths == 0:
        quiet = next((t for t, _tp, fp, _n in results if fp == 0 and t >= current), None)
        chosen = current if quiet is None else quiet
        tp, fp, n = outcome(chosen)
        return ThresholdChoice(class_name, chosen, n, tp, fp)
    reachable = results[0][1]
    allowed = [r for r in results if r[1] >= min_recall * reachable] or results[:1]
    # among equally good thresholds, the one nearest the current: move only as far as the data asks
    best = max(allowed, key=lambda r: (round(f_beta(r[1], r[2], r[3] - r[1], beta=beta), 9), -abs(r[0] - current)))
    t, tp, fp, n = best
    return ThresholdChoice(class_name, t, n, tp, fp)
