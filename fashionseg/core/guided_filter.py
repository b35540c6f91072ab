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

from fashionseg.core.masks import is_int


def _box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(
    guide: np.ndarray, probability: np.ndarray, radius: int, eps: float = 1e-3, scale: int = 1
) -> np.ndarray:
    """``probability`` (``H x W``, 0-1) filtered with ``guide`` (the photo, RGB or grey, ``H x W``).

    ``radius``: the window's half side, in pixels of the working resolution, which is the
    photo's divided by ``scale`` (an integer >= 1). ``eps``: how much a window's grey-level
    variance must exceed for the map to follow it (on the 0-1 scale; smaller keeps fainter
    edges). A uint8 or uint16 guide is scaled by its type's maximum; any other type is
    taken on the 0-1 scale, or on 0-255 (as the models' inputs are) when it exceeds 1.
    Returns float32 in [0, 1], the shape of ``probability``.
    """
    if not (_whole(radius) and radius >= 1 and _whole(scale) and scale >= 1) or not eps > 0:  # NaN eps fails
        raise ValueError(f"radius and scale must be whole numbers >= 1 and eps > 0, not {radius}, {scale}, {eps}")
    height, width = probability.shape
    if height == 0 or width == 0:
        raise ValueError(f"an empty probability map ({height} x {width}) cannot be filtered")
    grey = grey_levels(guide)
    if grey.shape != (height, width):
        raise ValueError(f"guide {grey.shape} and probability {probability.shape} differ in size")
    radius, scale = int(radius), int(scale)
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


def _whole(value) -> bool:
    return is_int(value) or isinstance(value, np.integer)


def grey_levels(guide: np.ndarray) -> np.ndarray:
    """A photo's grey levels as float32 on the 0-1 scale, on which ``eps`` is set, by the rule of
    :func:`guided_filter`; a caller filtering many parts of one photo converts it once."""
    if guide.ndim == 3 and guide.shape[2] not in (3, 4):
        raise ValueError(f"guide must be grey (H x W) or RGB(A) (H x W x 3 or 4), not {guide.shape}")
    rgb = guide[:, :, :3] if guide.ndim == 3 else None
    if guide.dtype in (np.uint8, np.uint16):  # OpenCV's own types: grey first, in integers, as for a decoded photo
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) if rgb is not None else guide
        return grey.astype(np.float32) / np.float32(np.iinfo(guide.dtype).max)
    unit = guide.astype(np.float32)
    if unit.size and np.nanmax(unit) > 1.0:  # a float or int32/int64 photo on 0-255, as the models take it
        unit /= np.float32(255.0)
    return cv2.cvtColor(np.ascontiguousarray(unit[:, :, :3]), cv2.COLOR_RGB2GRAY) if unit.ndim == 3 else unit


def working_scale(height: int, width: int, model_size: int) -> int:
    """The integer ``scale`` that brings a photo's long side near ``model_size`` (at least 1)."""
    return max(1, round(max(height, width) / model_size))
