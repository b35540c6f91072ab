"""Can a Mask R-CNN's anchors represent the boxes re-framed photos produce? One row per robustness variant.

Builds the variants of a test set (as ``fashionseg robustness`` does, same seed),
letterboxes every ground-truth box into the model's square input, and reports the
box sizes and, per box, the best IoU any anchor reaches (the RPN calls an anchor
positive from 0.7 and otherwise gives each box its best anchor):

    .venv/bin/python scripts/anchor_coverage.py --test data/ccp/instances.json \
        --images ../shared/datasets/ccp/photos --split val --work /tmp/anchor_variants \
        [--weights weights/maskrcnn_mobilenet_v2_512] [--scales 16 32 64 128 256]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fashionseg.core.images import LetterboxWindow
from fashionseg.core.variants import MIN_INSTANCE_AREA, build_variants, variants_named
from fashionseg.models.maskrcnn.anchors import anchor_coverage, anchor_grid
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.evaluate import load_coco
from fashionseg.settings import default_weights


def letterboxed_boxes(coco: dict, size: int) -> np.ndarray:
    """``(N, 4)`` ``y1, x1, y2, x2`` of every annotation's box in a ``size`` letterbox of its photo."""
    images = {im["id"]: im for im in coco["images"]}
    boxes = []
    for ann in coco["annotations"]:
        im = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        x1, y1, x2, y2 = LetterboxWindow.fit(im["height"], im["width"], size).boxes_to_square([x, y, x + w, y + h])[0]
        boxes.append([y1, x1, y2, x2])
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--test", required=True, help="instances.json with masks")
    parser.add_argument("--images", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--work", required=True, help="folder for the variant photos")
    parser.add_argument("--weights", help="model folder whose config gives the anchors (default: the shipped one)")
    parser.add_argument("--scales", type=float, nargs="+", help="other anchor sides to compare, one per level")
    parser.add_argument("--variants", nargs="+", help="variant names (default: all)")
    args = parser.parse_args()

    weights = Path(args.weights) if args.weights else default_weights("maskrcnn")
    config = MaskRCNNConfig.load(weights / "config.json")
    size = config.IMAGE_MAX_DIM
    scales = args.scales or config.RPN_ANCHOR_SCALES
    anchors = anchor_grid(size, scales, config.RPN_ANCHOR_RATIOS, config.BACKBONE_STRIDES, config.RPN_ANCHOR_STRIDE)
    coco = load_coco(args.test, args.split)
    files = build_variants(coco, args.images, args.work, variants_named(args.variants), 0, MIN_INSTANCE_AREA, True)
    print(
        f"anchors: sides {', '.join(f'{s:g}' for s in scales)} px, ratios {config.RPN_ANCHOR_RATIOS}, {size} px input"
    )
    print(
        "| variant | boxes | box side (sqrt area) p5 / median / p95 px | longest side max px | best anchor IoU >= 0.7 | >= 0.5 | median best IoU |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, path in files.items():
        boxes = letterboxed_boxes(load_coco(path), size)
        sides = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        longest = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        cover = anchor_coverage(boxes, anchors)
        p5, p50, p95 = np.percentile(sides, [5, 50, 95])
        print(
            f"| {name} | {len(boxes)} | {p5:.0f} / {p50:.0f} / {p95:.0f} | {longest.max():.0f} | "
            f"{cover['share_iou_0.7']:.2f} | {cover['share_iou_0.5']:.2f} | {cover['median_best_iou']:.2f} |"
        )


if __name__ == "__main__":
    main()
