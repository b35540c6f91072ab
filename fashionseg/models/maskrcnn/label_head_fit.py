"""Fitting a Mask R-CNN's label head (:mod:`~fashionseg.models.maskrcnn.label_head`) on its own outputs.

Two kinds of photos teach it: photos with masks (their classes are their
instances') and photos with image-level labels only (CCP's tag-only part, which
the detector never saw). Only their training split is used, so the validation
photos stay as unseen by the head as by the detector. The head's inputs are the
model's own: the image features and the best detection score per class, with
the focus pass where it runs, exactly as :meth:`InstanceSegmenter.predict`
computes them.

Example:
    >>> from fashionseg.models.maskrcnn.label_head_fit import labelled_photos
    >>> instances = {"images": [{"id": 1, "file_name": "a.jpg", "split": "train"}],
    ...              "annotations": [{"image_id": 1, "category_id": 8}, {"image_id": 1, "category_id": 4}]}
    >>> client = {"images": [{"id": 7, "file_name": "b.jpg", "split": "train"}, {"id": 8, "file_name": "c.jpg", "split": "val"}],
    ...           "image_labels": [{"image_id": 7, "category_id": 9}, {"image_id": 7, "category_id": None}]}
    >>> labelled_photos(instances, client, split="train")
    [('a.jpg', [4, 8]), ('b.jpg', [9])]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashionseg.core.images import load_image
from fashionseg.core.split import select_coco_split
from fashionseg.models.maskrcnn.evaluate import image_labels
from fashionseg.models.maskrcnn.label_head import LabelHead, best_scores


def labelled_photos(instances: dict | None, client: dict | None, split: str | None = "train") -> list[tuple[str, list]]:
    """(file name, sorted class ids) of the ``split`` photos of a COCO file with masks and of one with
    image-level labels (either may be None), in their order."""
    photos = []
    if instances is not None:
        instances = select_coco_split(instances, split)
        classes: dict[int, set] = {im["id"]: set() for im in instances["images"]}
        for ann in instances["annotations"]:
            classes[ann["image_id"]].add(int(ann["category_id"]))
        photos += [(im["file_name"], sorted(classes[im["id"]])) for im in instances["images"]]
    if client is not None:
        client = select_coco_split(client, split)
        labels = image_labels(client)
        photos += [(im["file_name"], sorted(labels[im["id"]])) for im in client["images"]]
    return photos


def head_inputs(segmenter, file_names: list[str], images_dir: str | Path, progress: bool = True):
    """(N, F) image features and (N, K) best detection score per class of each photo."""
    features, best = [], []
    num_classes = segmenter.config.NUM_CLASSES - 1
    for name in tqdm(file_names, desc="label head inputs", unit="photo", disable=not progress):
        detections, photo_features, _ = segmenter.detections(load_image(Path(images_dir) / name))
        if photo_features is None:
            raise ValueError("this runtime gives no image features; load the model with runtime='keras'")
        features.append(photo_features)
        best.append(best_scores(detections.class_ids, detections.scores, num_classes))
    return np.stack(features), np.stack(best)


def fit_label_head(
    segmenter,
    photos: list[tuple[str, list]],
    images_dir: str | Path,
    l2: float = 0.1,
    progress: bool = True,
    **settings,
) -> tuple[LabelHead, dict]:
    """The head fitted on ``photos`` (from :func:`labelled_photos`) and a summary for the model folder."""
    if not photos:
        raise ValueError("no labelled photos to fit the label head on")
    start = time.perf_counter()
    features, best = head_inputs(segmenter, [name for name, _ in photos], images_dir, progress)
    labels = np.zeros(best.shape, bool)
    for row, (_, classes) in enumerate(photos):
        labels[row, classes] = True
    head = LabelHead.fit(features, best, labels, l2=l2, **settings)
    summary = {
        **head.get_config(),
        "photos": len(photos),
        "photos_per_class": {name: int(n) for name, n in zip(segmenter.config.CLASS_NAMES[1:], labels.sum(axis=0))},
        "seconds": round(time.perf_counter() - start, 1),
    }
    return head, summary
