"""Edge-aware refinement of a probability map scaled up from a network's input size.

A network that sees a photo at 384 px returns a map that, scaled up to the photo, is
soft across every garment edge. The guided filter (He, Sun and Tang, TPAMI 2013) fits in
every small window a linear function of the photo's grey level to the map, so the map's
edges move onto the photo's; its fast form (He and Sun, 2015) fits those functions at a
lower resolution and applies them at the photo's, which is where the cost goes away.

>>> import numpy as np
>>> photo = np.zeros((40, 40), np.uint8); photo[:, 20:] = 255  # the garment's edge: column 20
>>> soft = np.tile(np.clip((np.arange(40, dtype=np.float32) - 16) / 12, 0, 1), (40, 1))  # 0.5 at 22
>>> sharp = guided_filter(photo, soft, radius=4)
>>> int(np.argmax(soft[0] >= 0.5)), int(np.argmax(sharp[0] >= 0.5))
(22, 21)
>>> bool(sharp[0, 19] < soft[0, 19] < soft[0, 20] < sharp[0, 20])  # steeper across the photo's edge
True
"""

from __future__ import annotations

import cv2
import numpy as np


def _box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(
    guide: np.ndarray, probability: np.ndarray, radius: int, eps: float = 1e-3, scale: int = 1
) -> np.ndarray:
    """``probability`` (``H x W``, 0-1) filtered with ``guide`` (the photo, RGB or grey, ``H x W``).

    ``radius``: the window's half side, in pixels of the working resolution, which is the
    photo's divided by ``scale`` (an integer >= 1). ``eps``: how much a window's grey-level
    variance must exceed for the map to follow it (on the 0-1 scale; smaller keeps fainter
    edges). Returns float32 in [0, 1], the shape of ``probability``.
    """
    if radius < 1 or scale < 1 or eps <= 0:
        raise ValueError(f"radius and scale must be >= 1 and eps > 0, not {radius}, {scale}, {eps}")
    height, width = probability.shape
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY) if guide.ndim == 3 else guide
    if grey.shape != (height, width):
        raise ValueError(f"guide {grey.shape} and probability {probability.shape} differ in size")
    grey = grey.astype(np.float32) / 255.0 if grey.dtype == np.uint8 else grey.astype(np.float32)
    p = probability.astype(np.float32)
    small = (max(1, round(width / scale)), max(1, round(height / scale)))
    if scale > 1:
        guide_small = cv2.resize(grey, small, interpolation=cv2.INTER_AREA)
        p_small = cv2.resize(p, small, interpolation=cv2.INTER_AREA)
    else:
        guide_small, p_small = grey, p
    mean_guide, mean_p = _box_mean(guide_small, radius), _box_mean(p_small, radius)
    covariance = _box_mean(guide_small * p_small, radius) - mean_guide * mean_p
    variance = _box_mean(guide_small * guide_small, radius) - mean_guide * mean_guide
    a = covariance / (variance + eps)
    b = mean_p - a * mean_guide
    mean_a, mean_b = _box_mean(a, radius), _box_mean(b, radius)
    if scale > 1:
        mean_a = cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(mean_a * grey + mean_b, 0.0, 1.0)


def working_scale(height: int, width: int, model_size: int) -> int:
    """The integer ``scale`` that brings a photo's long side near ``model_size`` (at least 1)."""
    return max(1, round(max(height, width) / model_size))
