"""Drawings from the annotation canvas (Fabric.js JSON) as masks at the photo's own resolution.

The Annotate page shows a photo scaled down to fit the screen and lets the
annotator draw on it with streamlit-drawable-canvas, which returns Fabric.js
objects in canvas pixels. :class:`CanvasFrame` is the one place that knows the
scale between canvas and photo; :func:`rasterise` turns the objects into
boolean masks of the photo's size, so a correction lands on exactly the photo
pixels it was drawn over, whatever the display size.

A pixel belongs to a shape when its centre lies inside it (the rule of
``cv2.fillPoly``), so a rectangle over the whole canvas covers the whole photo
and a rectangle over canvas pixels [10, 40) of a photo shown at half size
covers photo pixels [20, 80).

Example:
    >>> frame = CanvasFrame.fit(height=800, width=600, max_width=300)
    >>> frame.canvas_height, frame.canvas_width
    (400, 300)
    >>> rect = {"type": "rect", "left": 10, "top": 20, "width": 30, "height": 40, "strokeWidth": 0}
    >>> add, erase = rasterise([rect], frame)
    >>> add.shape, int(add.sum()), int(erase.sum())
    ((800, 600), 4800, 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fashionseg.exceptions import CanvasDrawingError

# Strokes drawn with the eraser are told apart from the others by this colour.
ERASE_COLOUR = "rgba(255, 255, 255, 0.85)"

# Fixed-point precision for OpenCV's strokes: coordinates keep 1/256 pixel.
_SHIFT = 8
_ORIGIN_OFFSET = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}


@dataclass(frozen=True)
class CanvasFrame:
    """The photo's size and the size it is drawn at on the canvas."""

    height: int
    width: int
    canvas_height: int
    canvas_width: int

    @classmethod
    def fit(cls, height: int, width: int, max_width: int = 700, max_height: int = 900) -> CanvasFrame:
        """The largest canvas no wider than ``max_width`` and no taller than ``max_height`` (never upscaled)."""
        scale = min(1.0, max_width / width, max_height / height)
        return cls(height, width, max(1, round(height * scale)), max(1, round(width * scale)))

    @property
    def scale_x(self) -> float:
        """Photo pixels per canvas pixel, horizontally."""
        return self.width / self.canvas_width

    @property
    def scale_y(self) -> float:
        return self.height / self.canvas_height

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Canvas (x, y) points -> photo (x, y) points."""
        return np.asarray(points, float) * [self.scale_x, self.scale_y]


def rasterise(objects: list[dict], frame: CanvasFrame) -> tuple[np.ndarray, np.ndarray]:
    """(added, erased) boolean masks of the photo's size from Fabric.js objects.

    Objects whose ``stroke`` is :data:`ERASE_COLOUR` go to the erased mask.
    Rectangles, circles and polygons are filled; free-hand paths and lines are
    painted with their stroke width (scaled like the photo).
    """
    added = np.zeros((frame.height, frame.width), np.uint8)
    erased = np.zeros_like(added)
    for n, obj in enumerate(objects or []):
        target = erased if obj.get("stroke") == ERASE_COLOUR else added
        try:
            _draw_object(target, obj, frame)
        except (KeyError, TypeError, ValueError) as exc:
            raise CanvasDrawingError(f"canvas object {n} ({obj.get('type', '?')}): {exc}") from exc
    return added.astype(bool), erased.astype(bool)


def apply_drawing(mask: np.ndarray | None, objects: list[dict], frame: CanvasFrame) -> np.ndarray:
    """``mask`` with the drawn shapes added and the erased ones taken away."""
    added, erased = rasterise(objects, frame)
    base = np.zeros((frame.height, frame.width), bool) if mask is None else mask.astype(bool)
    if base.shape != added.shape:
        raise CanvasDrawingError(f"mask is {base.shape}, the photo is {added.shape}")
    return (base | added) & ~erased


# ---------------------------------------------------------------- Fabric.js geometry


def _object_matrix(obj: dict, local_width: float, local_height: float) -> tuple[np.ndarray, np.ndarray]:
    """(2x2 linear part, centre) mapping an object's local coordinates (origin at its centre) to canvas."""
    scale_x, scale_y = float(obj.get("scaleX", 1)), float(obj.get("scaleY", 1))
    if obj.get("flipX"):
        scale_x = -scale_x
    if obj.get("flipY"):
        scale_y = -scale_y
    angle = math.radians(float(obj.get("angle", 0)))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    linear = rotation @ np.diag([scale_x, scale_y])
    # Fabric's left/top is the object's origin point; its box includes the stroke.
    stroke = 0.0 if obj.get("strokeUniform") else float(obj.get("strokeWidth", 0) or 0)
    box = np.array([local_width + stroke, local_height + stroke])
    origin = np.array([_ORIGIN_OFFSET[obj.get("originX", "left")], _ORIGIN_OFFSET[obj.get("originY", "top")]])
    centre = np.array([float(obj.get("left", 0)), float(obj.get("top", 0))]) + linear @ ((0.5 - origin) * box)
    return linear, centre


def _box_centre_and_size(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centre (Fabric's ``pathOffset``) and size of the points' bounding box."""
    low, high = points.min(0), points.max(0)
    return (low + high) / 2, high - low


def _to_canvas(obj: dict, local: np.ndarray, local_width: float, local_height: float) -> np.ndarray:
    linear, centre = _object_matrix(obj, local_width, local_height)
    return local @ linear.T + centre


def _path_points(commands: list) -> list[list[tuple[float, float]]]:
    """The path's subpaths as point lists; curves sampled, so a stroke follows them closely."""
    subpaths: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for command in commands:
        op, args = str(command[0]), [float(v) for v in command[1:]]
        if op in ("M", "m"):
            if len(current) > 0:
                subpaths.append(current)
            current = [(args[0], args[1])]
        elif op in ("L", "l"):
            current.append((args[0], args[1]))
        elif op in ("Q", "q"):
            start, control, end = np.array(current[-1]), np.array(args[0:2]), np.array(args[2:4])
            for t in np.linspace(0.125, 1.0, 8):
                current.append(tuple((1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end))
        elif op in ("C", "c"):
            start, c1, c2, end = np.array(current[-1]), np.array(args[0:2]), np.array(args[2:4]), np.array(args[4:6])
            for t in np.linspace(0.125, 1.0, 8):
                current.append(
                    tuple((1 - t) ** 3 * start + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * end)
                )
        elif op in ("Z", "z"):
            continue
        else:
            raise ValueError(f"path command {op!r} is not supported")
    if current:
        subpaths.append(current)
    return subpaths


def _fill(target: np.ndarray, canvas_points: np.ndarray, frame: CanvasFrame) -> None:
    """Even-odd scanline fill: a pixel is set when its centre lies inside the polygon (edges half-open)."""
    photo = frame.to_photo(canvas_points)
    start, end = photo, np.roll(photo, -1, axis=0)
    top, bottom = max(0, int(np.floor(photo[:, 1].min()))), min(frame.height, int(np.ceil(photo[:, 1].max())) + 1)
    if top >= bottom:
        return
    centres_y = np.arange(top, bottom) + 0.5
    y0, y1 = start[:, 1][None, :], end[:, 1][None, :]
    cy = centres_y[:, None]
    crosses = ((y0 <= cy) & (cy < y1)) | ((y1 <= cy) & (cy < y0))
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = start[:, 0][None, :] + (cy - y0) * (end[:, 0] - start[:, 0])[None, :] / (y1 - y0)
    x_at = np.where(crosses, x_at, np.inf)
    x_at.sort(axis=1)
    for row, xs in zip(range(top, bottom), x_at):
        xs = xs[np.isfinite(xs)]
        for left, right in zip(xs[0::2], xs[1::2]):
            # pixel x is inside when left <= x + 0.5 < right
            first, last = max(0, int(np.ceil(left - 0.5))), min(frame.width, int(np.ceil(right - 0.5)))
            if first < last:
                target[row, first:last] = 1


def _stroke(target: np.ndarray, canvas_points: np.ndarray, width: float, frame: CanvasFrame) -> None:
    photo = frame.to_photo(canvas_points) - 0.5
    thickness = max(1, round(width * (frame.scale_x + frame.scale_y) / 2))
    points = np.round(photo * (1 << _SHIFT)).astype(np.int32)
    if len(points) == 1:
        cv2.circle(target, tuple(points[0]), max(1, thickness // 2) << _SHIFT, 1, -1, shift=_SHIFT)
        return
    cv2.polylines(target, [points], False, 1, thickness=thickness, lineType=cv2.LINE_8, shift=_SHIFT)


def _draw_object(target: np.ndarray, obj: dict, frame: CanvasFrame) -> None:
    kind = str(obj.get("type", "")).lower()
    stroke_width = float(obj.get("strokeWidth", 0) or 0) * float(obj.get("scaleX", 1))
    if kind in ("rect", "labeledrect"):
        w, h = float(obj["width"]), float(obj["height"])
        corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        _fill(target, _to_canvas(obj, corners, w, h), frame)
    elif kind in ("circle", "ellipse"):
        rx = float(obj.get("rx", obj.get("radius", 0)))
        ry = float(obj.get("ry", obj.get("radius", 0)))
        angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        ring = np.stack([rx * np.cos(angles), ry * np.sin(angles)], axis=1)
        _fill(target, _to_canvas(obj, ring, 2 * rx, 2 * ry), frame)
    elif kind in ("polygon", "polyline"):
        points = np.array([[float(p["x"]), float(p["y"])] for p in obj["points"]])
        centre, size = _box_centre_and_size(points)
        canvas_points = _to_canvas(obj, points - centre, *size)
        if kind == "polygon":
            _fill(target, canvas_points, frame)
        else:
            _stroke(target, canvas_points, stroke_width, frame)
    elif kind == "path":
        subpaths = [np.array(s) for s in _path_points(obj["path"]) if s]
        if not subpaths:
            return
        centre, size = _box_centre_and_size(np.concatenate(subpaths))
        closed = any(str(c[0]).lower() == "z" for c in obj["path"])
        for points in subpaths:
            canvas_points = _to_canvas(obj, points - centre, *size)
            if closed and obj.get("fill"):
                _fill(target, canvas_points, frame)
            _stroke(target, canvas_points, stroke_width, frame)
    elif kind == "line":
        ends = np.array([[float(obj["x1"]), float(obj["y1"])], [float(obj["x2"]), float(obj["y2"])]])
        centre, size = _box_centre_and_size(ends)
        _stroke(target, _to_canvas(obj, ends - centre, *size), stroke_width, frame)
    elif kind in ("", "image", "text", "i-text", "textbox", "group"):
        return  # nothing that outlines a region
    else:
        raise ValueError(f"object type {obj.get('type')!r} is not supported")
