import numpy as np

from fashionseg.models.maskrcnn.roi_align import pyramid_level, pyramid_roi_align, roi_align


def reference_roi_align(features, boxes, stride, size, ratio):
    """Loop-by-loop RoIAlign on NumPy, the definition the keras.ops version must match."""
    b, h, w, c = features.shape
    out = np.zeros((b, boxes.shape[1], size, size, c))

    def bilinear(img, y, x):
        y, x = min(max(y, 0), h - 1), min(max(x, 0), w - 1)
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
        dy, dx = y - y0, x - x0
        return (
            img[y0, x0] * (1 - dy) * (1 - dx)
            + img[y0, x1] * (1 - dy) * dx
            + img[y1, x0] * dy * (1 - dx)
            + img[y1, x1] * dy * dx
        )

    for i in range(b):
        for n, (y1, x1, y2, x2) in enumerate(boxes[i] / stride):
            bin_h, bin_w = (y2 - y1) / size, (x2 - x1) / size
            for p in range(size):
                for q in range(size):
                    acc = 0
                    for r in range(ratio):
                        for s in range(ratio):
                            y = y1 + (p + (r + 0.5) / ratio) * bin_h - 0.5
                            x = x1 + (q + (s + 0.5) / ratio) * bin_w - 0.5
                            acc = acc + bilinear(features[i], y, x)
                    out[i, n, p, q] = acc / ratio**2
    return out


def test_matches_the_reference():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 16, 12, 3)).astype("float32")
    boxes = np.array(
        [
            [[0, 0, 64, 48], [10.3, 5.7, 40.1, 33.3], [-8, -8, 20, 20]],
            [[30, 20, 31, 21], [0, 0, 4, 4], [60, 40, 64, 48]],
        ],
        "float32",
    )
    ours = np.asarray(roi_align(features, boxes, stride=4, output_size=3, sampling_ratio=2))
    np.testing.assert_allclose(ours, reference_roi_align(features, boxes, 4, 3, 2), rtol=1e-5, atol=1e-5)


def test_linear_ramp_gives_bin_centres():
    # On f(y, x) = x at cell centres, bilinear sampling is exact: each bin's value is its centre's x.
    w = 30  # the box spans cells 8-24, inside the map
    features = np.tile(np.arange(w, dtype="float32")[None, None, :, None], (1, 10, 1, 1))
    boxes = np.array([[[8, 16, 24, 48]]], "float32")  # stride 2 -> cells x 8..24
    out = np.asarray(roi_align(features, boxes, stride=2, output_size=4))[0, 0, 0, :, 0]
    np.testing.assert_allclose(out, [8 + 2 - 0.5, 8 + 6 - 0.5, 8 + 10 - 0.5, 8 + 14 - 0.5], atol=1e-5)


def test_levels_and_pyramid_selection():
    boxes = np.array([[[0, 0, 224, 224], [0, 0, 112, 112], [0, 0, 16, 16], [0, 0, 500, 500]]], "float32")
    np.testing.assert_array_equal(np.asarray(pyramid_level(boxes))[0], [4, 3, 2, 5])
    maps = [
        np.full((1, 512 // s, 512 // s, 1), float(level), "float32") for s, level in ((4, 2), (8, 3), (16, 4), (32, 5))
    ]
    pooled = np.asarray(pyramid_roi_align(maps, boxes, (4, 8, 16, 32), output_size=2))
    np.testing.assert_array_equal(pooled[0, :, 0, 0, 0], [4, 3, 2, 5])
