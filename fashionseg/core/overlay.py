"""Drawing instances over a photo: one fixed colour per class, boxes and labels, and the colour key.

Example:
    >>> import numpy as np
    >>> image = np.zeros((20, 20, 3), np.uint8)
    >>> mask = np.zeros((20, 20), bool); mask[5:10, 5:10] = True
    >>> out = draw_instances(image, [("pants", 0.9, (5, 5, 10, 10), mask)], opacity=1.0, labels=False, boxes=False)
    >>> tuple(out[7, 7]) == CLASS_COLOURS["pants"]
    True
"""

from __future__ import annotations

import html

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
FONT = cv2.FONT_HERSHEY_SIMPLEX


def text_colour(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light class colours (shoe, umbrella), white on dark ones, so labels stay readable."""
    r, g, b = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


Rect = tuple[int, int, int, int]  # x1, y1, x2, y2


def place_labels(
    anchors: list[tuple[float, float, float, float]], sizes: list[tuple[int, int]], height: int, width: int
) -> list[Rect]:
    """Where each label goes (``x1, y1, x2, y2``): above its box, else inside its top, else below
    it, else the first free row further down, never over a label placed before it.

    ``anchors``: the instances' boxes, in drawing order; ``sizes``: each label's ``(w, h)``.

    Example:
        >>> place_labels([(10, 50, 60, 90), (12, 52, 58, 95)], [(40, 12), (40, 12)], 200, 200)
        [(10, 38, 50, 50), (12, 52, 52, 64)]
    """
    placed: list[Rect] = []

    def free(rect):
        return all(rect[2] <= p[0] or rect[0] >= p[2] or rect[3] <= p[1] or rect[1] >= p[3] for p in placed)

    for (x1, y1, _, y2), (w, h) in zip(anchors, sizes):
        left = int(min(max(x1, 0), max(width - w, 0)))
        tops = [int(y1) - h, int(y1), int(y2)] + list(range(int(y1) + h, height - h + 1, max(h // 2, 1)))
        tops = [min(max(t, 0), max(height - h, 0)) for t in tops]
        top = next((t for t in tops if free((left, t, left + w, t + h))), tops[0])
        placed.append((left, top, left + w, top + h))
    return placed


def draw_instances(
    image: np.ndarray,
    instances,
    opacity: float = 0.5,
    boxes: bool = True,
    labels: bool = True,
    texts: list[str] | None = None,
    text_scale: float | None = None,
) -> np.ndarray:
    """``instances``: ``(class_name, score, (x1, y1, x2, y2), mask)`` tuples; returns a new RGB image.

    A ``None`` score labels the instance with its class only (ground truth);
    ``texts`` replaces the labels (one per instance, e.g. numbered "shoe 1", "shoe 2"); ``text_scale`` the
    OpenCV font scale the image's size would give.
    Labels are sized to the image (readable when it is shown at a page's width)
    and never drawn over one another.
    """
    out = image.astype(np.float32).copy()
    for name, _, _, mask in instances:
        colour = np.asarray(CLASS_COLOURS.get(name, (255, 255, 255)), np.float32)
        out[mask] = (1 - opacity) * out[mask] + opacity * colour
    out = np.clip(out, 0, 255).astype(np.uint8)
    height, width = image.shape[:2]
    thickness = max(1, round(max(height, width) / 400))
    for name, _score, (x1, y1, x2, y2), mask in instances:
        colour = CLASS_COLOURS.get(name, (255, 255, 255))
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, thickness)
        if boxes:
            cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), colour, thickness)
    if labels and instances:
        # Text about 2.2 % of the long side tall: ~22 px on a 1024 px overlay, 11 px on a 512 px photo.
        scale = text_scale or max(0.35, max(height, width) / 1000)
        weight = max(1, round(scale * 1.6))
        pad = max(2, round(3 * scale))
        if texts is None:
            texts = [name if score is None else f"{name} {score:.2f}" for name, score, _, _ in instances]
        elif len(texts) != len(instances):
            raise ValueError(f"{len(texts)} label texts for {len(instances)} instances")
        measured = [cv2.getTextSize(text, FONT, scale, weight) for text in texts]
        sizes = [(w + 2 * pad, h + base + 2 * pad) for (w, h), base in measured]
        rects = place_labels([box for _, _, box, _ in instances], sizes, height, width)
        for (name, *_), text, ((_, h), _), (left, top, right, bottom) in zip(instances, texts, measured, rects):
            colour = CLASS_COLOURS.get(name, (255, 255, 255))
            cv2.rectangle(out, (left, top), (right - 1, bottom - 1), colour, -1)
            cv2.putText(out, text, (left + pad, top + pad + h), FONT, scale, text_colour(colour), weight, cv2.LINE_AA)
    return out


def fitting_scale(text: str, width: int, largest: float, smallest: float = 0.3) -> float:
    """The largest font scale up to ``largest`` at which ``text``'s label fits ``width`` pixels (at least ``smallest``).

    >>> fitting_scale("shoe 0.99", 256, 0.8), fitting_scale("top, t-shirt, sweatshirt 0.97", 150, 0.8) < 0.5
    (0.8, True)
    """
    scale = largest
    while scale > smallest:
        (w, _), _ = cv2.getTextSize(text, FONT, scale, max(1, round(scale * 1.6)))
        if w + 2 * max(2, round(3 * scale)) <= width:
            return round(scale, 2)
        scale -= 0.05
    return smallest


def legend_html(counts: dict[str, int]) -> str:
    """The colour key of an overlay: a swatch, the class and how many of it, as HTML for ``st.markdown``.

    Example:
        >>> "rgb(188, 189, 34)" in legend_html({"shoe": 2}) and "shoe × 2" in legend_html({"shoe": 2})
        True
    """
    items = []
    for name, count in counts.items():
        r, g, b = CLASS_COLOURS.get(name, (255, 255, 255))
        items.append(
            f'<span style="white-space:nowrap;margin-right:1em">'
            f'<span style="display:inline-block;width:0.9em;height:0.9em;border-radius:2px;vertical-align:-0.1em;'
            f'background:rgb({r}, {g}, {b})"></span> {html.escape(name)} × {count}</span>'
        )
    return " ".join(items)


def class_cell_style(name: str) -> str:
    """A table cell in its class's colour, its text readable on it."""
    colour = CLASS_COLOURS.get(name, (255, 255, 255))
    return f"background-color: rgb{colour}; color: rgb{text_colour(colour)}"
