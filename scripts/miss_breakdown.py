"""Why a Mask R-CNN misses what it misses: each true instance of a COCO set, by the best the model did on it.

For every true instance the model's predictions down to ``--floor`` (below the
shipped thresholds, so near-misses show) are searched for the mask of highest
IoU, and the instance is put in one bucket:

- ``found``: a prediction of its class with mask IoU >= 0.5 and a score at or
  above the class's shipped threshold (about what the evaluation counts: it
  matches each prediction to one true instance at most, this to any);
- ``below threshold``: such a prediction exists, scored under the threshold;
- ``other class``: a prediction of another class covers it (IoU >= 0.5);
- ``not found``: no prediction covers it at IoU 0.5, whatever its class.

The model's per-class thresholds decide "found"; a label head, where the
folder has one, is not used. ``--pad-below F`` adds F x the photo's height of black below each photo before
the model runs (and cuts the predictions back to the photo): a waist-up crop
padded by 1.0 shows the person at the scale of a full-body CCP photo, which
tests whether scale alone explains the misses on waist-up photos.

Example (a robustness run's variant folder, or any COCO set with masks)::

    python scripts/miss_breakdown.py --test /tmp/rvar0/waist_up/instances.json --images /tmp/rvar0/waist_up
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashionseg.core import metrics
from fashionseg.core.coco import annotations_by_image
from fashionseg.core.images import load_image
from fashionseg.core.masks import mask_iou
from fashionseg.models.maskrcnn.evaluate import load_coco
from fashionseg.models.maskrcnn.predictor import InstanceSegmenter
from fashionseg.settings import default_weights

BUCKETS = ("found", "below threshold", "other class", "not found")
IOU = metrics.IOU_THRESHOLD


def padded_below(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` with ``factor`` x its height of black rows added below it."""
    height = image.shape[0]
    canvas = np.zeros((height + round(factor * height),) + image.shape[1:], image.dtype)
    canvas[:height] = image
    return canvas


def bucket(ious, class_id: int, predictions, thresholds: dict[int, float]) -> str:
    """The bucket of one true mask of class ``class_id`` among ``predictions`` (``Instance`` objects),
    given its mask IoU with each of them (``ious``, a row of :func:`fashionseg.core.masks.mask_iou`)."""
    best_same = best_kept = best_any = 0.0
    for p, iou in zip(predictions, ious):
        best_any = max(best_any, iou)
        if p.class_id == class_id:
            best_same = max(best_same, iou)
            if p.score >= thresholds[class_id]:
                best_kept = max(best_kept, iou)
    if best_kept >= IOU:
        return "found"
    if best_same >= IOU:
        return "below threshold"
    return "other class" if best_any >= IOU else "not found"


def breakdown(segmenter, coco: dict, images: Path, floor: float, pad_below: float) -> dict[str, Counter]:
    """Class name -> bucket -> how many true instances."""
    c = segmenter.config
    names = c.CLASS_NAMES[1:]
    thresholds = {
        k: float(c.DETECTION_MIN_CONFIDENCE_PER_CLASS.get(n, c.DETECTION_MIN_CONFIDENCE)) for k, n in enumerate(names)
    }
    per_image = annotations_by_image(coco)
    counts = {name: Counter() for name in names}
    for im in tqdm(coco["images"], desc="photos", unit="photo"):
        image = load_image(images / im["file_name"])
        height, width = image.shape[:2]
        shown = padded_below(image, pad_below) if pad_below else image
        result = segmenter.predict(shown, min_confidence=floor)
        for p in result.instances:
            p.mask = p.mask[:height, :width]
        truth = metrics.Instances.from_coco(per_image.get(im["id"], []), (height, width))
        predicted = np.array([p.mask for p in result.instances]).reshape(-1, height, width)
        for ious, class_id in zip(mask_iou(truth.masks, predicted), truth.class_ids):
            counts[names[class_id]][bucket(ious, int(class_id), result.instances, thresholds)] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, help="Mask R-CNN folder (default: the shipped one)")
    parser.add_argument("--test", type=Path, required=True, help="COCO file with masks")
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--split", choices=("train", "val"), help="only this split of the file")
    parser.add_argument("--floor", type=float, default=0.05, help="lowest score looked at (default 0.05)")
    parser.add_argument("--pad-below", type=float, default=0.0, metavar="F", help="black below, F x the height")
    args = parser.parse_args()
    segmenter = InstanceSegmenter.load(args.weights or default_weights("maskrcnn"))
    counts = breakdown(segmenter, load_coco(args.test, args.split), args.images, args.floor, args.pad_below)
    print("| class | true | " + " | ".join(BUCKETS) + " |")
    print("| --- " * (len(BUCKETS) + 2) + "|")
    for name, row in counts.items():
        if sum(row.values()):
            print(f"| {name} | {sum(row.values())} | " + " | ".join(str(row[b]) for b in BUCKETS) + " |")
    total = sum(counts.values(), Counter())
    print(f"| all | {sum(total.values())} | " + " | ".join(str(total[b]) for b in BUCKETS) + " |")


if __name__ == "__main__":
    main()
