"""Repeat-factor sampling (Gupta et al., LVIS, 2019): photos of rare classes come round more often.

CCP's classes are far from balanced: nearly every photo has shoes, one in
six a sweater, one in fifty a tie. The detector sees the rare garments so
seldom that it calls a sweater a jacket or a shirt. With repeat-factor
sampling each class ``c`` gets ``r_c = max(1, sqrt(t / f_c))``, where ``f_c``
is the share of training photos that hold it and ``t`` the threshold below
which a class counts as rare; a photo's factor is the largest of its classes'.
An epoch then shows each photo ``r`` times on average: ``floor(r)`` times,
plus once more with probability ``r - floor(r)``, drawn afresh every epoch.

Example:
    >>> import numpy as np
    >>> photos = [np.array([8, 3]), np.array([8]), np.array([8, 2]), np.array([8])]  # 3 and 2: one photo in four
    >>> repeat_factors(photos, threshold=0.5, num_classes=11).round(3).tolist()
    [1.414, 1.0, 1.414, 1.0]
    >>> order = epoch_order(repeat_factors(photos, 0.5, 11), np.random.default_rng(0), length=5)
    >>> len(order), set(order.tolist()) <= {0, 1, 2, 3}
    (5, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def repeat_factors(class_ids: Sequence[np.ndarray], threshold: float, num_classes: int) -> np.ndarray:
    """(N,) each photo's repeat factor from its instances' class ids (any id range below ``num_classes``)."""
    if not threshold > 0:
        raise ValueError(f"the repeat-factor threshold must be above 0, not {threshold}")
    present = np.zeros((len(class_ids), num_classes), bool)
    for row, ids in enumerate(class_ids):
        present[row, np.asarray(ids, int)] = True
    share = present.mean(axis=0) if len(class_ids) else np.zeros(num_classes)
    with np.errstate(divide="ignore"):
        per_class = np.maximum(1.0, np.sqrt(threshold / share))  # a class no photo holds: inf, never used
    return np.array([per_class[row].max() if row.any() else 1.0 for row in present])


def epoch_length(factors: np.ndarray) -> int:
    """Photos an epoch shows: the factors' sum, rounded (at least one)."""
    return max(1, round(float(np.sum(factors))))


def epoch_order(factors: np.ndarray, rng: np.random.Generator, length: int) -> np.ndarray:
    """One epoch's shuffled photo indices, each repeated ``floor(r)`` or ``ceil(r)`` times (stochastic
    rounding), cut or topped up (photos drawn in proportion to their factor) to ``length``."""
    factors = np.asarray(factors, float)
    whole = np.floor(factors)
    counts = (whole + (rng.random(len(factors)) < factors - whole)).astype(int)
    order = np.repeat(np.arange(len(factors)), counts)
    if len(order) < length:
        extra = rng.choice(len(factors), length - len(order), p=factors / factors.sum())
        order = np.concatenate([order, extra])
    rng.shuffle(order)
    return order[:length]
