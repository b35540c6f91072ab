"""Focus: a second look at a small person, on a crop around them (the U-Net report's idea, for the detector).

In a wide shot a person fills a fraction of the letterboxed 512 px input and
their shoes shrink to a few pixels, below the smallest anchor (16 px). When
the first pass finds garments only in a small part of the photo, the
predictor runs the model again on a crop around them, at full input
resolution, and keeps the second pass's detections there. Photos framed like
CCP's (the person fills the frame) never take the second pass, so they cost
nothing more.

Example:
    >>> import numpy as np
    >>> focus_window(np.array([[400.0, 300.0, 460.0, 420.0]]), np.array([0.6]), 720, 1280)
    (340, 240, 520, 480)
    >>> focus_window(np.array([[10.0, 10.0, 1200.0, 700.0]]), np.array([0.9]), 720, 1280) is None
    True
"""

from __future__ import annotations

import numpy as np

# Detections at least this confident mark where the people are.
FOCUS_MIN_SCORE = 0.3
# Around them, this share of the region's height is added on every side (context for the second pass).
FOCUS_MARGIN = 0.5
# A second pass only when the region (with its margin) covers at most this share of the photo.
FOCUS_MAX_AREA_SHARE = 0.35


def focus_window(
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    height: int,
    width: int,
    min_score: float = FOCUS_MIN_SCORE,
    margin: float = FOCUS_MARGIN,
    max_area_share: float = FOCUS_MAX_AREA_SHARE,
) -> tuple[int, int, int, int] | None:
    """The crop ``(x0, y0, x1, y1)`` (pixels, end exclusive) worth a second pass, or None.

    The union of the confident boxes, grown by ``margin`` x its height on each
    side and clipped to the photo, if it covers at most ``max_area_share`` of it.
    """
    confident = np.asarray(boxes_xyxy, float).reshape(-1, 4)[np.asarray(scores) >= min_score]
    if len(confident) == 0:
        return None
    x0, y0 = confident[:, 0].min(), confident[:, 1].min()
    x1, y1 = confident[:, 2].max(), confident[:, 3].max()
    pad = margin * (y1 - y0)
    x0, y0 = max(0, int(np.floor(x0 - pad))), max(0, int(np.floor(y0 - pad)))
    x1, y1 = min(width, int(np.ceil(x1 + pad))), min(height, int(np.ceil(y1 + pad)))
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) > max_area_share * height * width:
        return None
    return x0, y0, x1, y1
