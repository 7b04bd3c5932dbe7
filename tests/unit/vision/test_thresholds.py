"""Per-class threshold choice on validation outcomes."""

from __future__ import annotations

import numpy as np
import pytest

from vision.thresholds import MAX_THRESHOLD, MIN_THRESHOLD, candidate_thresholds, choose_threshold, f_beta


def outcome_from(scores_tp: list[tuple[float, bool]], truths: int):
    """(tp, fp, truths) at a threshold, for findings given as (score, is it a true object)."""
    def outcome(t: float) -> tuple[int, int, int]:
        kept = [tp for s, tp in scores_tp if s >= t]
        return sum(kept), len(kept) - sum(kept), truths
    return outcome


def test_false_alarms_below_the_true_detections_are_cut() -> None:
    # three true objects scored 0.6-0.8, five false alarms at 0.2-0.4: any threshold in (0.4, 0.6] is perfect
    found = [(0.8, True), (0.7, True), (0.6, True)] + [(s, False) for s in (0.2, 0.25, 0.3, 0.35, 0.4)]
    choice = choose_threshold("smoke", current=0.18, outcome=outcome_from(found, truths=3))
    assert 0.4 < choice.threshold <= 0.6
    assert choice.threshold == pytest.approx(0.41)  # of the equally good, the nearest to the current 0.18
    assert (choice.precision, choice.recall) == (1.0, 1.0)


def test_f1_trades_a_missed_object_for_many_false_alarms() -> None:
    found = [(0.9, True), (0.15, True)] + [(0.1 + i * 0.01, False) for i in range(8)]
    choice = choose_threshold("construction_site", current=0.17, outcome=outcome_from(found, truths=2))
    assert choice.threshold == pytest.approx(0.18) and choice.true_positives == 1 and choice.false_positives == 0


def test_class_without_truths_is_silenced_only_where_it_fires() -> None:
    only_false = [(0.3, False), (0.5, False)]
    quiet = choose_threshold("burn_scar", current=0.2, outcome=outcome_from(only_false, truths=0))
    assert quiet.threshold == pytest.approx(0.51)
    idle = choose_threshold("open_fire", current=0.2, outcome=outcome_from([], truths=0))
    assert idle.threshold == 0.2


def test_grid_and_f_beta() -> None:
    grid = candidate_thresholds()
    assert grid[0] == MIN_THRESHOLD and grid[-1] == MAX_THRESHOLD and np.all(np.diff(grid) > 0)
    assert f_beta(1, 1, 0, beta=1.0) == pytest.approx(2 / 3)
    assert f_beta(0, 0, 0, beta=1.0) == 0.0
    assert f_beta(1, 0, 1, beta=0.5) > f_beta(1, 1, 0, beta=0.5)  # beta < 1 prefers precision


def test_min_recall_keeps_most_of_a_class() -> None:
    # five objects, three of them scored among many false alarms: F1 alone gives up two of them
    found = [(0.9, True), (0.85, True), (0.3, True), (0.25, True), (0.2, True)] + [(0.2 + i * 0.01, False)
                                                                                   for i in range(10)]
    free = choose_threshold("water_discoloration", current=0.1, outcome=outcome_from(found, truths=5))
    assert free.true_positives == 3 and free.false_positives == 0
    kept = choose_threshold("water_discoloration", current=0.1, outcome=outcome_from(found, truths=5),
                            min_recall=0.8)
    assert kept.true_positives >= 4 and kept.threshold <= 0.25


def test_an_already_good_threshold_stays() -> None:
    found = [(0.66, True), (0.05, False)]
    choice = choose_threshold("open_fire", current=0.166, outcome=outcome_from(found, truths=1))
    assert choice.threshold == pytest.approx(0.17)  # anything in (0.05, 0.66] is perfect: barely move
