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


def filter_reach(radius: int, scale: int) -> int:
    """How far (photo px) :func:`paste_mask`'s guided filter may carry a mask past its box."""
    return 2 * radius * scale


def drop_rival_classes(
    masks: list[np.ndarray],
    boxes_xyxy: np.ndarray,
    class_ids: np.ndarray,
    exclusive: set[int],
    max_iou: float,
    reach: int = 0,
) -> list[int]:
    """Indices of the instances to keep (given best first): an instance of a class in ``exclusive``
    whose mask overlaps a kept one of another class in ``exclusive`` by a mask IoU above ``max_iou``
    is dropped, as one garment cannot be both.

    ``reach``: how far (px) a mask may extend past its box (the guided filter's margin); the
    overlap is counted only where both boxes, grown by it, meet.

    >>> skirt = np.zeros((8, 8), bool); skirt[4:8, 2:6] = True
    >>> dress = np.zeros((8, 8), bool); dress[1:8, 2:6] = True
    >>> boxes = np.array([[2, 1, 6, 8], [2, 4, 6, 8]], float)
    >>> drop_rival_classes([dress, skirt], boxes, np.array([7, 6]), {5, 6, 7}, max_iou=0.3)
    [0]
    """
    kept, areas = [], [int(np.count_nonzero(m)) for m in masks]
    for i in range(len(masks)):
        rival = False
        if int(class_ids[i]) in exclusive:
            for j in kept:
                if class_ids[j] == class_ids[i] or int(class_ids[j]) not in exclusive:
                    continue
                x0 = max(int(np.floor(max(boxes_xyxy[i][0], boxes_xyxy[j][0]))) - reach, 0)
                y0 = max(int(np.floor(max(boxes_xyxy[i][1], boxes_xyxy[j][1]))) - reach, 0)
                x1 = int(np.ceil(min(boxes_xyxy[i][2], boxes_xyxy[j][2]))) + reach + 1
                y1 = int(np.ceil(min(boxes_xyxy[i][3], boxes_xyxy[j][3]))) + reach + 1
                if x1 <= x0 or y1 <= y0:
                    continue
                inter = int(np.count_nonzero(masks[i][y0:y1, x0:x1] & masks[j][y0:y1, x0:x1]))
                union = areas[i] + areas[j] - inter
                if union and inter / union > max_iou:
                    rival = True
                    break
        if not rival:
            kept.append(i)
    return kept


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
    margin = filter_reach(radius, scale) if refine else 0
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
