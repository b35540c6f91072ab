"""Drawing instances over a photo: one fixed colour per class, boxes and labels.

Example:
    >>> import numpy as np
    >>> image = np.zeros((20, 20, 3), np.uint8)
    >>> mask = np.zeros((20, 20), bool); mask[5:10, 5:10] = True
    >>> out = draw_instances(image, [("pants", 0.9, (5, 5, 10, 10), mask)], opacity=1.0, labels=False, boxes=False)
    >>> tuple(out[7, 7]) == CLASS_COLOURS["pants"]
    True
"""

from __future__ import annotations

import cv2
import numpy as np

# Fixed per class, so a class looks the same on every photo, page and export (Tableau 10 + one).
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "shirt, blouse": (31, 119, 180),
    "top, t-shirt, sweatshirt": (255, 127, 14),
    "sweater": (44, 160, 44),
    "jacket": (214, 39, 40),
    "pants": (148, 103, 189),
    "skirt": (140, 86, 75),
    "dress": (227, 119, 194),
    "tie": (127, 127, 127),
    "shoe": (188, 189, 34),
    "bag, wallet": (23, 190, 207),
    "umbrella": (255, 215, 0),
}


def draw_instances(image: np.ndarray, instances, opacity: float = 0.5, boxes: bool = True, labels: bool = True) -> np.ndarray:
    """``instances``: ``(class_name, score, (x1, y1, x2, y2), mask)`` tuples; returns a new RGB image.

    A ``None`` score labels the instance with its class only (ground truth).
    """
    out = image.astype(np.float32).copy()
    for name, _, _, mask in instances:
        colour = np.asarray(CLASS_COLOURS.get(name, (255, 255, 255)), np.float32)
        out[mask] = (1 - opacity) * out[mask] + opacity * colour
    out = np.clip(out, 0, 255).astype(np.uint8)
    thickness = max(1, round(max(image.shape[:2]) / 400))
    for name, score, (x1, y1, x2, y2), mask in instances:
        colour = CLASS_COLOURS.get(name, (255, 255, 255))
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, thickness)
        if boxes:
            cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), colour, thickness)
        if labels:
            text = name if score is None else f"{name} {score:.2f}"
            scale = 0.4 * thickness
            (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            top = max(int(y1) - h - base - 2, 0)
            cv2.rectangle(out, (int(x1), top), (int(x1) + w + 4, top + h + base + 2), colour, -1)
            cv2.putText(out, text, (int(x1) + 2, top + h + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
