"""Choosing the binarisation threshold that maximises mean Dice on the validation split.

Example:
    >>> import numpy as np
    >>> probability = np.array([[0.9, 0.6], [0.3, 0.1]]); truth = np.array([[1, 1], [0, 0]], bool)
    >>> best, dice_at_best, _ = choose_threshold([probability], [truth])
    >>> 0.3 < best <= 0.6, dice_at_best
    (True, 1.0)
"""

from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(0.05, 0.96, 0.01), 2)
BINS = 1000


def dice_per_threshold(probability: np.ndarray, truth: np.ndarray, grid: np.ndarray = GRID) -> np.ndarray:
    """Dice of ``probability >= t`` against ``truth`` for every ``t`` in ``grid``, from two histograms."""
    bins = np.minimum((probability * BINS).astype(np.int64), BINS - 1).ravel()
    truth = truth.ravel().astype(bool)
    positives = np.bincount(bins[truth], minlength=BINS)
    negatives = np.bincount(bins[~truth], minlength=BINS)
    # pixels at or above each bin edge
    tp_from = np.cumsum(positives[::-1])[::-1]
    fp_from = np.cumsum(negatives[::-1])[::-1]
    edges = np.minimum(np.ceil(grid * BINS).astype(np.int64), BINS - 1)
    tp, fp = tp_from[edges], fp_from[edges]
    fn = truth.sum() - tp
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0)


def choose_threshold(probabilities, truths, grid: np.ndarray = GRID) -> tuple[float, float, np.ndarray]:
    """(best threshold, mean Dice there, mean Dice for every threshold of ``grid``)."""
    curve = np.mean([dice_per_threshold(p, t, grid) for p, t in zip(probabilities, truths)], axis=0)
    best = int(np.argmax(curve))
    return float(grid[best]), float(curve[best]), curve
