"""scripts/miss_breakdown.py: each true instance lands in the bucket the predictions put it in."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from tests.test_accelerator_scripts import load_script

script = load_script("miss_breakdown")


def mask(y0, y1, x0, x1, shape=(40, 40)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_bucket_tells_found_below_threshold_other_class_and_not_found():
    truth = mask(0, 20, 0, 20)
    thresholds = {0: 0.5, 1: 0.5}

    def predicted(class_id, score, m=truth):
        return SimpleNamespace(class_id=class_id, score=score, mask=m)

    def bucket(*predictions):
        ious = script.mask_iou(truth[None], np.array([p.mask for p in predictions]).reshape(-1, 40, 40))[0]
        return script.bucket(ious, 0, list(predictions), thresholds)

    assert bucket(predicted(0, 0.9)) == "found"
    assert bucket(predicted(0, 0.3)) == "below threshold"
    assert bucket(predicted(1, 0.9), predicted(0, 0.3)) == "below threshold"
    assert bucket(predicted(1, 0.9)) == "other class"
    assert bucket(predicted(0, 0.9, mask(0, 20, 0, 8))) == "not found"  # IoU 0.4
    assert bucket() == "not found"


def test_padding_below_keeps_the_photo_on_top():
    image = np.full((10, 6, 3), 200, np.uint8)
    padded = script.padded_below(image, 1.0)
    assert padded.shape == (20, 6, 3) and (padded[:10] == 200).all() and (padded[10:] == 0).all()
