"""Tag-consistent pseudo-labels: a Mask R-CNN's own instances on photos that only have image-level tags.

Self-training on CCP's tag-only photos (issue #10): the model segments each
photo, and its instances are kept only where they agree with the photo's tags,
so the tags correct the detector's weakest decision, which classes a photo
holds, while its masks supply the pixels:

- instances of a tagged class are kept from ``min_score``, the best ones up to
  the tag's count (CCP counts shoes 2, every other tag 1), so a garment the
  model boxed twice is labelled once;
- a tagged class the model found no instance of takes the best instance of an
  untagged class of the same supercategory (a "shirt" box on a photo tagged
  "sweater" becomes the sweater) when ``relabel``;
- every other instance of an untagged class is dropped;
- a photo where a tagged class still has no instance is left out: training on
  it would teach the model that the garment is background.

The photos kept are added to the training split only (``merge_pseudo_labels``);
the tag-only validation split stays the client set's held-out photos.

Example:
    >>> import numpy as np
    >>> from fashionseg.models.maskrcnn.predictor import Instance
    >>> def inst(class_id, score):
    ...     return Instance(class_id, "", score, (0, 0, 1, 1), np.ones((2, 2), bool))
    >>> supercategory = {0: "upperbody", 2: "upperbody", 4: "lowerbody", 8: "legs and feet"}
    >>> kept = tag_consistent([inst(0, 0.9), inst(4, 0.8), inst(8, 0.2)], {2, 4}, supercategory)
    >>> [(i.class_id, i.score) for i in kept]  # the shirt becomes the tagged sweater; the shoe is untagged
    [(4, 0.8), (2, 0.9)]
    >>> tag_consistent([inst(4, 0.8)], {2, 4}, supercategory) is None  # no sweater at all: photo left out
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fashionseg.core.coco import annotations_by_image
from fashionseg.core.images import load_image
from fashionseg.core.split import select_coco_split
from fashionseg.exceptions import ImageLoadError, UsageError
from fashionseg.models.maskrcnn.evaluate import tag_counts
from fashionseg.models.maskrcnn.predictor import SegmentationResult

DEFAULT_MIN_SCORE = 0.3


@dataclass
class PseudoLabelReport:
    photos: int = 0  # tag-only photos of the split looked at
    kept: int = 0
    instances: int = 0
    relabelled: int = 0
    left_out: dict[str, int] = field(default_factory=dict)  # class name -> photos left out for lacking it
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"pseudo-labelled {self.kept} of {self.photos} photos ({self.instances} instances, "
            f"{self.relabelled} relabelled to a tagged class)"
        )
        if self.left_out:
            worst = sorted(self.left_out.items(), key=lambda kv: -kv[1])
            text += "; left out for a tagged class not found: " + ", ".join(f"{k} {n}" for k, n in worst)
        if self.failed:
            text += f"; {len(self.failed)} photos could not be read"
        return text

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def tag_consistent(
    instances: list,
    tags: dict[int, int] | set[int],
    supercategory: dict[int, str],
    min_score: float = 0.0,
    relabel: bool = True,
):
    """The instances (``Instance``, 0-based class ids) that agree with the photo's ``tags`` (class -> count,
    or a set of classes, each counted once), or None when a tagged class is left without one (see the
    module docstring)."""
    if not isinstance(tags, dict):
        tags = dict.fromkeys(tags, 1)
    tagged, per_class = [], {}
    for i in sorted((i for i in instances if i.class_id in tags and i.score >= min_score), key=lambda i: -i.score):
        per_class[i.class_id] = per_class.get(i.class_id, 0) + 1
        if per_class[i.class_id] <= tags[i.class_id]:
            tagged.append(i)
    untagged = sorted((i for i in instances if i.class_id not in tags and i.score >= min_score), key=lambda i: -i.score)
    for missing in sorted(set(tags) - set(per_class)):
        if not relabel:
            return None
        group = supercategory.get(missing)
        donor = next((i for i in untagged if group is not None and supercategory.get(i.class_id) == group), None)
        if donor is None:
            return None
        untagged.remove(donor)
        tagged.append(dataclasses.replace(donor, class_id=missing, class_name=""))
    return tagged


def pseudo_label(
    segmenter,
    client: dict,
    images_dir: str | Path,
    split: str = "train",
    min_score: float = DEFAULT_MIN_SCORE,
    relabel: bool = True,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> tuple[dict, PseudoLabelReport]:
    """A COCO document (masks as RLE) of the ``split`` photos of ``client`` (image-level labels, as
    ``fashionseg convert`` writes them) whose model instances agree with their tags, and a report."""
    if not 0.0 <= min_score <= 1.0:
        raise UsageError(f"min_score must be in [0, 1], not {min_score}")
    client = select_coco_split(client, split)
    labels = tag_counts(client)
    supercategory = {c["id"]: c.get("supercategory") for c in client["categories"]}
    names = {c["id"]: c["name"] for c in client["categories"]}
    report = PseudoLabelReport(photos=len(client["images"]))
    images, annotations = [], []
    for n, image in enumerate(client["images"]):
        if on_progress:
            on_progress(n, report.photos, image["file_name"])
        tags = labels[image["id"]]
        if not tags:  # none of our classes tagged: no instance could be checked against the tags
            report.left_out["no tag of our classes"] = report.left_out.get("no tag of our classes", 0) + 1
            continue
        try:
            photo = load_image(Path(images_dir) / image["file_name"])
        except ImageLoadError as exc:
            report.failed.append(f"{image['file_name']}: {exc}")
            continue
        # every instance from min_score: the tags, not the confidence thresholds, decide the classes
        result = segmenter.predict(photo, min_confidence=min_score)
        kept = tag_consistent(result.instances, tags, supercategory, min_score, relabel)
        if kept is None:
            found = {i.class_id for i in result.instances if i.score >= min_score}
            for missing in set(tags) - found:
                report.left_out[names[missing]] = report.left_out.get(names[missing], 0) + 1
            continue
        original = {id(i) for i in result.instances}
        report.relabelled += sum(id(i) not in original for i in kept)
        images.append({**image, "split": split})
        kept_result = SegmentationResult(kept, result.height, result.width, {})
        annotations += kept_result.to_coco_annotations(image["id"], first_id=len(annotations) + 1)
        report.kept += 1
        report.instances += len(kept)
    if on_progress:
        on_progress(report.photos, report.photos, "")
    document = {"images": images, "annotations": annotations, "categories": client["categories"]}
    return document, report


def merge_pseudo_labels(instances: dict, pseudo: dict) -> dict:
    """``instances`` (a COCO file with masks, all its splits) with the pseudo-labelled photos added as
    training photos; image and annotation ids of the additions are moved past the existing ones."""
    if [c["name"] for c in instances["categories"]] != [c["name"] for c in pseudo["categories"]]:
        raise UsageError("the pseudo-labels and the instances file have different classes")
    taken = {im["file_name"] for im in instances["images"]}
    clash = sorted(taken & {im["file_name"] for im in pseudo["images"]})
    if clash:
        raise UsageError(f"{len(clash)} pseudo-labelled photos are in the instances file already, e.g. {clash[0]}")
    image_offset = max((im["id"] for im in instances["images"]), default=0)
    ann_offset = max((a["id"] for a in instances["annotations"]), default=0)
    images = [{**im, "id": im["id"] + image_offset, "split": "train"} for im in pseudo["images"]]
    annotations = [
        {**a, "id": a["id"] + ann_offset, "image_id": a["image_id"] + image_offset} for a in pseudo["annotations"]
    ]
    return {**instances, "images": instances["images"] + images, "annotations": instances["annotations"] + annotations}


def audit_pseudo_labels(
    segmenter,
    instances: dict,
    images_dir: str | Path,
    split: str = "val",
    min_score: float = DEFAULT_MIN_SCORE,
    relabel: bool = True,
) -> dict:
    """How clean the rule's labels are, measured where the truth is known: the ``split`` photos of
    ``instances`` (photos with masks) pseudo-labelled with their own classes as tags (counted as their
    instances), then matched to their masks at IoU 0.5.

    Returns the photos kept, and the pseudo-instances' precision and recall and mAP@50 on them.
    """
    from fashionseg.core import metrics

    truth = select_coco_split(instances, split)
    labels = [
        {"id": n + 1, "image_id": a["image_id"], "category_id": a["category_id"], "count": 1}
        for n, a in enumerate(truth["annotations"])
    ]
    tagged = {**truth, "annotations": [], "image_labels": labels}
    pseudo, report = pseudo_label(segmenter, tagged, images_dir, split, min_score, relabel)

    truth_by_image, pseudo_by_image = annotations_by_image(truth), annotations_by_image(pseudo)
    gts, preds = [], []
    matched = false_positives = missed = 0
    for im in pseudo["images"]:
        shape = (im["height"], im["width"])
        gt = metrics.Instances.from_coco(truth_by_image.get(im["id"], []), shape)
        pred = metrics.Instances.from_coco(pseudo_by_image.get(im["id"], []), shape, scored=True)
        m = metrics.match_instances(gt, pred)
        matched += int((m.gt_match >= 0).sum())
        missed += int((m.gt_match < 0).sum())
        false_positives += int((m.pred_match < 0).sum())
        gts.append(gt)
        preds.append(pred)
    return {
        "split": split,
        "photos": report.photos,
        "kept": report.kept,
        "precision": matched / max(1, matched + false_positives),
        "recall": matched / max(1, matched + missed),
        "map50": metrics.mean_average_precision_50(gts, preds) if gts else 0.0,
        "report": report.to_dict(),
    }
