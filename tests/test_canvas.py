"""Canvas drawings (Fabric.js JSON from streamlit-drawable-canvas) -> masks at the photo's resolution."""

import numpy as np
import pytest

from fashionseg.annotation.canvas import ERASE_COLOUR, CanvasDrawingError, CanvasFrame, apply_drawing, rasterise


def box_of(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def rect(left, top, width, height, **extra):
    return {"type": "rect", "left": left, "top": top, "width": width, "height": height, "strokeWidth": 0, **extra}


def test_frame_fits_the_screen_and_never_upscales():
    assert CanvasFrame.fit(800, 600, max_width=300) == CanvasFrame(800, 600, 400, 300)
    assert CanvasFrame.fit(100, 80, max_width=700) == CanvasFrame(100, 80, 100, 80)
    tall = CanvasFrame.fit(4000, 1000, max_width=700, max_height=800)
    assert tall.canvas_height == 800 and tall.canvas_width == 200


@pytest.mark.parametrize(
    "height,width,max_width", [(800, 600, 300), (829, 550, 640), (3000, 2000, 640), (333, 517, 256)]
)
def test_a_rectangle_lands_on_exactly_the_photo_pixels_under_it(height, width, max_width):
    frame = CanvasFrame.fit(height, width, max_width=max_width)
    full, _ = rasterise([rect(0, 0, frame.canvas_width, frame.canvas_height)], frame)
    assert full.shape == (height, width) and full.all()
    # Canvas edges at whole photo pixels: the mask is that rectangle, pixel for pixel.
    x0, y0, x1, y1 = 10, 20, 50, 70
    left, top = x0 / frame.scale_x, y0 / frame.scale_y
    added, _ = rasterise([rect(left, top, (x1 - x0) / frame.scale_x, (y1 - y0) / frame.scale_y)], frame)
    expected = np.zeros((height, width), bool)
    expected[y0:y1, x0:x1] = True
    np.testing.assert_array_equal(added, expected)


def test_moved_scaled_and_rotated_objects_follow_fabric_transforms():
    frame = CanvasFrame.fit(800, 600, max_width=300)  # 2 photo pixels per canvas pixel
    centred = rect(25, 40, 30, 40, originX="center", originY="center")
    assert box_of(rasterise([centred], frame)[0]) == (20, 40, 80, 120)
    scaled = rect(10, 20, 15, 20, scaleX=2, scaleY=2)
    assert box_of(rasterise([scaled], frame)[0]) == (20, 40, 80, 120)
    turned = rect(25, 40, 30, 40, originX="center", originY="center", angle=90)
    assert box_of(rasterise([turned], frame)[0]) == (10, 50, 90, 110)


def test_polygon_is_filled_and_a_freehand_stroke_has_its_width():
    frame = CanvasFrame.fit(400, 400, max_width=200)
    triangle = {
        "type": "Polygon",
        "left": 10,
        "top": 10,
        "width": 100,
        "height": 100,
        "strokeWidth": 0,
        "points": [{"x": 10, "y": 10}, {"x": 110, "y": 10}, {"x": 10, "y": 110}],
    }
    added, _ = rasterise([triangle], frame)
    assert abs(added.sum() - 0.5 * 200 * 200) < 0.02 * 0.5 * 200 * 200
    assert added[30, 30] and not added[200, 200]
    path = {
        "type": "path",
        "left": 45,
        "top": 95,
        "strokeWidth": 10,
        "path": [["M", 50, 100], ["Q", 100, 100, 150, 100], ["L", 150, 100]],
    }
    stroke, _ = rasterise([path], frame)
    x0, y0, x1, y1 = box_of(stroke)
    # 10 canvas px = 20 photo px wide, with round ends reaching 10 px past the end points (100 and 300)
    assert 88 <= x0 <= 92 and 308 <= x1 <= 312 and abs((y1 - y0) - 20) <= 2


def test_eraser_strokes_take_pixels_away():
    frame = CanvasFrame.fit(100, 100)
    mask = np.ones((100, 100), bool)
    out = apply_drawing(mask, [rect(0, 0, 50, 100, stroke=ERASE_COLOUR), rect(0, 0, 10, 10)], frame)
    assert not out[:, :50].any() and out[:, 50:].all()
    with pytest.raises(CanvasDrawingError, match="mask is"):
        apply_drawing(np.ones((10, 10), bool), [rect(0, 0, 5, 5)], frame)


def test_unknown_or_broken_objects_are_refused_clearly():
    frame = CanvasFrame.fit(100, 100)
    with pytest.raises(CanvasDrawingError, match="object 0 \\(triangle\\)"):
        rasterise([{"type": "triangle"}], frame)
    with pytest.raises(CanvasDrawingError, match="object 1 \\(rect\\)"):
        rasterise([rect(0, 0, 5, 5), {"type": "rect", "left": 0}], frame)
    added, erased = rasterise([{"type": "text", "text": "hi"}], frame)
    assert not added.any() and not erased.any()
