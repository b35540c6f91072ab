"""Tag-consistent pseudo-labels on tag-only photos, and their merge into a training file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fashionseg.core.coco import validate_coco
from fashionseg.core.masks import decode_rle, encode_rle
from fashionseg.core.split import select_coco_split
from fashionseg.exceptions import UsageError
from fashionseg.models.maskrcnn.predictor import Instance, SegmentationResult
from fashionseg.models.maskrcnn.pseudo_labels import merge_pseudo_labels, pseudo_label, tag_consistent

SUPER = {0: "upperbody", 1: "upperbody", 2: "upperbody", 4: "lowerbody", 5: "lowerbody", 8: "legs and feet"}
CATEGORIES = [{"id": k, "name": f"class {k}", "supercategory": SUPER.get(k, "others")} for k in range(11)]


def inst(class_id, score, rows=slice(0, 4)):
    mask = np.zeros((8, 6), bool)
    mask[rows, 1:5] = True
    return Instance(class_id, f"class {class_id}", score, (1, 0, 5, 4), mask)


def test_tagged_classes_are_kept_untagged_dropped_and_low_scores_ignored():
    kept = tag_consistent([inst(4, 0.9), inst(6, 0.95), inst(8, 0.35), inst(8, 0.2)], {4, 8}, SUPER, min_score=0.3)
    assert [(i.class_id, i.score) for i in kept] == [(4, 0.9), (8, 0.35)]


def test_a_missing_tagged_class_takes_the_best_same_supercategory_box_once():
    instances = [inst(0, 0.6), inst(1, 0.8), inst(4, 0.7)]
    kept = tag_consistent(instances, {2, 4}, SUPER)  # tagged sweater; the model saw a shirt and a top
    assert sorted((i.class_id, i.score) for i in kept) == [(2, 0.8), (4, 0.7)]  # the top (0.8) became the sweater
    # two missing upper-body tags, one donor: the photo cannot be completed
    assert tag_consistent([inst(1, 0.8), inst(4, 0.7)], {0, 2, 4}, SUPER) is None
    # a donor of another supercategory never stands in; nor any without relabel
    assert tag_consistent([inst(4, 0.9)], {0, 4}, SUPER) is None
    assert tag_consistent(instances, {2, 4}, SUPER, relabel=False) is None


class FakeSegmenter:
    """Answers each photo by its colour: the test's stand-in for a trained Mask R-CNN."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def predict(self, image, min_confidence=None):
        self.calls.append(min_confidence)
        return SegmentationResult(list(self.answers.get(int(image[0, 0, 0]), [])), *image.shape[:2], {})


def client_set(tmp_path):
    images, labels = [], []
    for n, (split, tags) in enumerate([("train", [4, 8]), ("train", [2]), ("train", []), ("val", [4]), ("train", [5])]):
        name = f"c{n}.png"
        Image.fromarray(np.full((8, 6, 3), n, np.uint8)).save(tmp_path / name)
        images.append({"id": 100 + n, "file_name": name, "height": 8, "width": 6, "split": split})
        labels += [{"id": len(labels) + k + 1, "image_id": 100 + n, "category_id": t} for k, t in enumerate(tags)]
    (tmp_path / "c4.png").write_bytes(b"not a photo")
    return {"images": images, "annotations": [], "categories": CATEGORIES, "image_labels": labels}


def test_pseudo_labelling_keeps_the_training_photos_that_agree_with_their_tags(tmp_path):
    answers = {
        0: [inst(4, 0.9, slice(4, 8)), inst(8, 0.5), inst(6, 0.99)],  # pants + shoe tagged; the dress is not
        1: [inst(5, 0.9)],  # tagged sweater, only a skirt found: left out
        2: [inst(0, 0.9)],  # no tag of our classes: left out
        3: [inst(4, 0.9)],  # a validation photo: never looked at
    }
    segmenter = FakeSegmenter(answers)
    seen = []
    coco, report = pseudo_label(
        segmenter, client_set(tmp_path), tmp_path, min_score=0.3, on_progress=lambda n, total, _: seen.append(n)
    )
    assert segmenter.calls == [0.3, 0.3]  # photos with tags only; the tags decide, not per-class thresholds
    assert seen[-1] == report.photos == 4
    assert (report.kept, report.instances, report.relabelled) == (1, 2, 0)
    assert report.left_out == {"class 2": 1, "no tag of our classes": 1}
    assert len(report.failed) == 1 and "c4.png" in report.failed[0]
    assert [im["file_name"] for im in coco["images"]] == ["c0.png"]
    anns = sorted(coco["annotations"], key=lambda a: a["category_id"])
    assert [a["category_id"] for a in anns] == [4, 8]
    assert decode_rle(anns[0]["segmentation"])[4:8, 1:5].all() and not decode_rle(anns[0]["segmentation"])[:4].any()
    assert anns[0]["bbox"] == [1.0, 4.0, 4.0, 4.0]
    assert "pseudo-labelled 1 of 4 photos" in report.summary()
    json.dumps(report.to_dict())


def test_merged_file_adds_training_photos_with_fresh_ids_and_stays_valid(tmp_path):
    instances = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "height": 8, "width": 6, "split": "train"},
            {"id": 2, "file_name": "b.jpg", "height": 8, "width": 6, "split": "val"},
        ],
        "annotations": [
            {"id": 5, "image_id": 2, "category_id": 4, "segmentation": encode_rle(inst(4, 1).mask), "iscrowd": 0},
        ],
        "categories": CATEGORIES,
    }
    instances = validate_coco(instances)
    segmenter = FakeSegmenter({0: [inst(4, 0.9), inst(8, 0.5)]})
    pseudo, _ = pseudo_label(segmenter, client_set(tmp_path), tmp_path)
    merged = validate_coco(merge_pseudo_labels(instances, pseudo))
    assert [im["id"] for im in merged["images"]] == [1, 2, 102]
    assert [a["id"] for a in merged["annotations"]] == [5, 6, 7]
    assert [a["image_id"] for a in merged["annotations"]] == [2, 102, 102]
    assert [im["file_name"] for im in select_coco_split(merged, "val")["images"]] == ["b.jpg"]
    with pytest.raises(UsageError, match="in the instances file already"):
        merge_pseudo_labels(merged, pseudo)
    with pytest.raises(UsageError, match="different classes"):
        merge_pseudo_labels({**instances, "categories": CATEGORIES[:5]}, pseudo)


def test_the_audit_scores_the_rule_against_masks_on_photos_whose_classes_are_known(tmp_path):
    from fashionseg.models.maskrcnn.pseudo_labels import audit_pseudo_labels

    images, annotations = [], []
    for n in range(3):
        Image.fromarray(np.full((8, 6, 3), n, np.uint8)).save(tmp_path / f"m{n}.png")
        images.append({"id": n + 1, "file_name": f"m{n}.png", "height": 8, "width": 6, "split": "val"})
    for image_id, class_id, rows in ((1, 4, slice(4, 8)), (1, 8, slice(0, 4)), (2, 2, slice(0, 4))):
        mask = inst(class_id, 1.0, rows).mask
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": class_id,
                "segmentation": encode_rle(mask),
            }
        )
    truth = validate_coco({"images": images, "annotations": annotations, "categories": CATEGORIES})
    answers = {
        0: [inst(4, 0.9, slice(4, 8)), inst(8, 0.8, slice(2, 3))],  # pants right; the shoe's mask misses (IoU 0.25)
        1: [inst(0, 0.7)],  # a shirt box on the tagged sweater: relabelled, and right
        2: [inst(0, 0.7)],  # photo 3 has no annotations, so no tags: left out
    }
    audit = audit_pseudo_labels(FakeSegmenter(answers), truth, tmp_path, split="val")
    assert (audit["photos"], audit["kept"]) == (3, 2)
    assert audit["precision"] == pytest.approx(2 / 3) and audit["recall"] == pytest.approx(2 / 3)
    assert audit["report"]["relabelled"] == 1 and 0 < audit["map50"] < 1


def test_the_command_writes_a_training_file_with_the_kept_photos_and_its_audit(
    tmp_path, monkeypatch, capsys, cli_logger
):
    from fashionseg.cli import common, main

    client = client_set(tmp_path)
    (tmp_path / "client.json").write_text(json.dumps(client))
    Image.fromarray(np.full((8, 6, 3), 9, np.uint8)).save(tmp_path / "m.png")
    instances = {
        "images": [{"id": 1, "file_name": "m.png", "height": 8, "width": 6, "split": "val"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 4, "segmentation": encode_rle(inst(4, 1).mask)}],
        "categories": CATEGORIES,
    }
    (tmp_path / "instances.json").write_text(json.dumps(instances))
    answers = {0: [inst(4, 0.9), inst(8, 0.5)], 9: [inst(4, 0.8)]}
    monkeypatch.setattr(common, "load_maskrcnn", lambda path, runtime=None: (FakeSegmenter(answers), tmp_path))
    out = tmp_path / "out" / "merged.json"
    argv = ["train", "pseudo-labels", "--instances", str(tmp_path / "instances.json"), "--images", str(tmp_path)]
    argv += ["--client", str(tmp_path / "client.json"), "--out", str(out), "--audit-split", "val", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "pseudo-labelled 1 of 4 photos" in printed and "precision 1.000, recall 1.000" in printed
    merged = validate_coco(json.loads(out.read_text()))
    assert [im["file_name"] for im in select_coco_split(merged, "train")["images"]] == ["c0.png"]
    assert sorted(a["category_id"] for a in merged["annotations"]) == [4, 4, 8]
    record = merged["fashionseg"]["pseudo_labels"]
    assert record["min_score"] == 0.3 and record["relabel"] is True and record["audit"]["kept"] == 1
