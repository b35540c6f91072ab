"""From the model's fixed-size detections to the instances a user sees.

The thesis' post-processing (5.5.1): a minimum confidence, at most N instances
of a class per image (two shoes), and a maximum number of instances. Masks are
pasted back into the original photo: each 28 x 28 probability map is resized to
its box in original pixels and thresholded at 0.5 (ours: after a guided filter with the
photo as guide, where the config's ``DETECTION_MASK_GUIDED_FILTER_RADIUS`` asks for one).

Example:
    >>> import numpy as np
    >>> keep = select_detections(np.array([9, 9, 9, 5]), np.array([0.95, 0.9, 0.8, 0.75]),
    ...                          min_confidence=0.7, max_instances=10, max_per_class={9: 2})
    >>> keep.tolist()
    [0, 1, 3]
"""

from __future__ import annotations

import cv2
import numpy as np

from fashionseg.core.guided_filter import guided_filter

MASK_THRESHOLD = 0.5


def select_detections(
    class_ids: np.ndarray,
    scores: np.ndarray,
    min_confidence: float,
    max_instances: int,
    max_per_class: dict[int, int],
    min_confidence_per_class: dict[int, float] | None = None,
) -> np.ndarray:
    """Indices of the detections to keep, best first: class id > 0, score >= ``min_confidence``
    (or the class's own ``min_confidence_per_class[c]``), at most ``max_per_class[c]`` of class ``c``
    (lower scores dropped) and ``max_instances`` in all."""
    kept, per_class = [], {}
    thresholds = min_confidence_per_class or {}
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        c = int(class_ids[i])
        if c <= 0 or scores[i] < thresholds.get(c, min_confidence):
            continue
        if per_class.get(c, 0) >= max_per_class.get(c, np.inf):
            continue
        per_class[c] = per_class.get(c, 0) + 1
        kept.append(int(i))
        if len(kept) == max_instances:
            break
    return np.asarray(kept, dtype=int)


def paste_mask(
    probabilities: np.ndarray,
    box_xyxy: np.ndarray,
    height: int,
    width: int,
    guide: np.ndarray | None = None,
    radius: int = 0,
    eps: float = 1e-3,
    scale: int = 1,
) -> np.ndarray:
    """A mask's probability map over its box -> boolean ``(height, width)`` mask of the photo.

    With ``guide`` (the photo, grey or RGB) and ``radius`` > 0 the map, scaled up to the
    box, is guided-filtered before the threshold (:func:`fashionseg.core.guided_filter.guided_filter`,
    ``radius`` in pixels of the photo divided by ``scale``), over the box grown by the
    filter's reach, so an edge the 28 x 28 map put a few pixels off can move onto the photo's.
    """
    x1, y1, x2, y2 = box_xyxy
    out = np.zeros((height, width), bool)
    if x2 - x1 < 1e-3 or y2 - y1 < 1e-3:
        return out
    refine = guide is not None and radius > 0
    margin = 2 * radius * scale if refine else 0
    c0, c1 = max(int(np.floor(x1)) - margin, 0) if refine else int(np.floor(x1)), int(np.ceil(x2)) + margin
    r0, r1 = max(int(np.floor(y1)) - margin, 0) if refine else int(np.floor(y1)), int(np.ceil(y2)) + margin
    c1, r1 = min(c1, width), min(r1, height)
    if c1 <= c0 or r1 <= r0:
        return out
    size = probabilities.shape[0]
    scale_x, scale_y = size / (x2 - x1), size / (y2 - y1)
    # Crop pixel (i, j) -> map cell coordinates; cv2 samples the map there (WARP_INVERSE_MAP).
    to_map = np.array([[scale_x, 0, (c0 + 0.5 - x1) * scale_x - 0.5], [0, scale_y, (r0 + 0.5 - y1) * scale_y - 0.5]])
    crop = cv2.warpAffine(
        probabilities.astype(np.float32),
        to_map,
        (c1 - c0, r1 - r0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    if refine:
        crop = guided_filter(guide[r0:r1, c0:c1], crop, radius, eps, scale)
    out[r0:r1, c0:c1] = crop >= MASK_THRESHOLD
    return out
