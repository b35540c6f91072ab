import numpy as np

from fashionseg.models.maskrcnn.anchors import level_anchors, pyramid_anchors
from fashionseg.models.maskrcnn.boxes import box_iou, clip_boxes, decode_deltas, encode_deltas
from fashionseg.models.maskrcnn.config import MaskRCNNConfig


def test_level_anchors_are_centred_and_keep_their_area():
    anchors = level_anchors(32, (0.5, 1.0, 2.0), (2, 3), feature_stride=16)
    assert anchors.shape == (2 * 3 * 3, 4)
    first_cell = anchors[:3]
    centres = (first_cell[:, :2] + first_cell[:, 2:]) / 2
    np.testing.assert_allclose(centres, [[8, 8]] * 3)
    heights, widths = first_cell[:, 2] - first_cell[:, 0], first_cell[:, 3] - first_cell[:, 1]
    np.testing.assert_allclose(heights * widths, 32 * 32, rtol=1e-5)
    np.testing.assert_allclose(widths / heights, [0.5, 1.0, 2.0], rtol=1e-5)
    last = anchors[-2]  # cell (1, 2), ratio 1
    np.testing.assert_allclose(last, [24 - 16, 40 - 16, 24 + 16, 40 + 16])


def test_pyramid_covers_every_level_in_order():
    config = MaskRCNNConfig()
    anchors = pyramid_anchors(config)
    counts = [(512 // s) ** 2 * 3 for s in config.BACKBONE_STRIDES]
    assert len(anchors) == sum(counts)
    sides = np.sqrt((anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1]))
    starts = np.cumsum([0] + counts)
    for level, scale in enumerate(config.RPN_ANCHOR_SCALES):
        np.testing.assert_allclose(sides[starts[level] : starts[level + 1]], scale, rtol=1e-4)


def test_iou_by_hand():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], "float32")
    b = np.array([[0, 5, 10, 15], [20, 20, 30, 30], [0, 0, 10, 10]], "float32")
    np.testing.assert_allclose(np.asarray(box_iou(a, b)), [[50 / 150, 0, 1], [0, 0, 0]], atol=1e-6)


def test_delta_encoding_round_trip_and_known_values():
    rng = np.random.default_rng(0)
    y, x = rng.uniform(0, 400, (2, 50))
    boxes = np.stack([y, x, y + rng.uniform(5, 100, 50), x + rng.uniform(5, 100, 50)], 1).astype("float32")
    targets = np.stack([y + 3, x - 2, y + 80, x + 60], 1).astype("float32")
    np.testing.assert_allclose(
        np.asarray(decode_deltas(boxes, encode_deltas(boxes, targets))), targets, rtol=1e-4, atol=1e-3
    )
    deltas = np.asarray(encode_deltas(np.array([[0, 0, 10, 10]], "float32"), np.array([[1, 0, 11, 20]], "float32")))
    np.testing.assert_allclose(deltas, [[0.1 / 0.1, 0.5 / 0.1, 0.0, np.log(2) / 0.2]], rtol=1e-5)


def test_clip():
    clipped = np.asarray(clip_boxes(np.array([[-5, 10, 600, 700]], "float32"), (0, 0, 512, 512)))
    np.testing.assert_array_equal(clipped, [[0, 10, 512, 512]])
