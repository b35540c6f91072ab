"""Robustness variants (fashionseg.evaluation.robustness): exact masks, determinism, the min-area rule, end to end."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_dilation, binary_erosion

from fashionseg import settings
from fashionseg.core import variants
from fashionseg.core.coco import read_coco
from fashionseg.core.images import load_image
from fashionseg.core.masks import decode_rle, encode_rle
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.evaluation import robustness

COLOURS = {4: (230, 20, 20), 3: (20, 230, 20), 8: (20, 20, 230)}  # pants, jacket, shoe
GEOMETRIC = (
    "original",
    "waist_up",
    "lower_body",
    "wide_0.3",
    "wide_0.5",
    "wide_0.8",
    "square_0.5",
    "group",
    "rotate_10",
)


@pytest.fixture()
def painted_set(tmp_path):
    """Three PNG photos whose instances are painted in their class's colour, and their COCO document."""
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    images, annotations = [], []
    for k in range(3):
        h, w = 300 + 20 * k, 200
        image = np.full((h, w, 3), 128, np.uint8)
        boxes = {3: (30, 40, 150, 160), 4: (150, 60, 280, 140), 8: (282, 20 + 30 * k, 298, 60 + 30 * k)}
        for category_id, (y1, x1, y2, x2) in boxes.items():
            mask = np.zeros((h, w), bool)
            mask[y1:y2, x1:x2] = True
            image[mask] = COLOURS[category_id]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": k + 1,
                    "category_id": category_id,
                    "segmentation": encode_rle(mask),
                    "iscrowd": 0,
                }
            )
        name = f"sub/p{k}.png" if k == 2 else f"p{k}.png"
        Image.fromarray(image).save(photos / name)
        images.append({"id": k + 1, "file_name": name, "height": h, "width": w, "split": "val"})
    return {"images": images, "annotations": annotations, "categories": FASHIONSEG11.coco_categories()}, photos


def read_variant(path):
    coco = read_coco(path)
    for im in coco["images"]:
        image = load_image(path.parent / im["file_name"])
        assert image.shape[:2] == (im["height"], im["width"])
        anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        yield im, image, anns


def test_variant_masks_sit_on_their_garments_pixels(painted_set, tmp_path):
    coco, photos = painted_set
    files = variants.build_variants(
        coco, photos, tmp_path / "out", variants.variants_named(list(GEOMETRIC)), progress=False
    )
    assert set(files) == set(GEOMETRIC)
    for name, path in files.items():
        for im, image, anns in read_variant(path):
            for category_id, rgb in COLOURS.items():
                masks = [decode_rle(a["segmentation"]) for a in anns if a["category_id"] == category_id]
                for ann in anns:
                    assert ann["area"] == decode_rle(ann["segmentation"]).sum() >= variants.MIN_INSTANCE_AREA
                if not masks:
                    continue
                mask = np.any(masks, axis=0)
                colour = np.abs(image.astype(int) - rgb).max(axis=-1) <= 60
                # JPEG and resampling blur a pixel's rim only: inside the mask the colour, outside it no colour
                inner, outer = binary_erosion(mask, iterations=1), binary_dilation(mask, iterations=2)
                if inner.any():
                    assert (inner & colour).sum() / inner.sum() >= 0.95, (name, im["file_name"], category_id)
                # near the people (a random background far away may happen to share a colour)
                near = binary_dilation(np.any([decode_rle(a["segmentation"]) for a in anns], axis=0), iterations=10)
                stray = colour & near & ~outer
                assert stray.sum() <= 0.02 * (colour & near).sum() + 2, (name, im["file_name"], category_id)


def test_crops_keep_whole_pixels_and_drop_cut_away_instances(painted_set, tmp_path):
    coco, photos = painted_set
    files = variants.build_variants(
        coco, photos, tmp_path / "out", variants.variants_named(["waist_up", "lower_body"]), progress=False
    )
    waist = read_coco(files["waist_up"])
    assert {a["category_id"] for a in waist["annotations"]} == {3, 4}  # the shoes are below the crop
    assert [im["height"] for im in waist["images"]] == [150, 160, 170]
    # photo 1 (300 rows) is cut at row 150, where its pants start: they are gone; taller photos keep a strip
    assert {a["category_id"] for a in waist["annotations"] if a["image_id"] == 1} == {3}
    pants = next(a for a in waist["annotations"] if a["category_id"] == 4 and a["image_id"] == 2)
    assert pants["area"] == 10 * 80 and pants["bbox"] == [60.0, 150.0, 80.0, 10.0]
    lower = read_coco(files["lower_body"])
    assert {a["category_id"] for a in lower["annotations"]} == {4, 8}  # the jackets end at row 150


def test_min_area_drops_instances_shrunk_to_specks(painted_set, tmp_path):
    coco, photos = painted_set
    files = variants.build_variants(
        coco, photos, tmp_path / "out", variants.variants_named(["wide_0.3"]), min_area=100, progress=False
    )
    kept = read_coco(files["wide_0.3"])["annotations"]
    # a 16 x 40 shoe at 0.3 of a frame as tall as the photo keeps ~58 px: dropped; jackets and pants stay
    assert {a["category_id"] for a in kept} == {3, 4}
    files = variants.build_variants(
        coco, photos, tmp_path / "out2", variants.variants_named(["wide_0.3"]), min_area=10, progress=False
    )
    assert {a["category_id"] for a in read_coco(files["wide_0.3"])["annotations"]} == {3, 4, 8}


def test_light_and_compression_change_pixels_not_masks(painted_set, tmp_path):
    coco, photos = painted_set
    files = variants.build_variants(
        coco, photos, tmp_path / "out", variants.variants_named(["low_light", "dark_jpeg_25"]), progress=False
    )
    for path in files.values():
        variant = read_coco(path)
        assert [a["segmentation"] for a in variant["annotations"]] == [a["segmentation"] for a in coco["annotations"]]
        for im, image, _ in read_variant(path):
            original = load_image(photos / coco["images"][im["id"] - 1]["file_name"])
            assert image.mean() < original.mean() * 0.75


def test_variants_are_deterministic_and_independent_of_the_other_photos(painted_set, tmp_path):
    coco, photos = painted_set
    names = ["wide_0.5", "rotate_10", "low_light"]
    first = variants.build_variants(
        coco, photos, tmp_path / "a", variants.variants_named(names), seed=3, progress=False
    )
    again = variants.build_variants(
        coco, photos, tmp_path / "b", variants.variants_named(names), seed=3, progress=False
    )
    alone = {
        **coco,
        "images": coco["images"][1:2],
        "annotations": [a for a in coco["annotations"] if a["image_id"] == 2],
    }
    single = variants.build_variants(
        alone, photos, tmp_path / "c", variants.variants_named(names), seed=3, progress=False
    )
    other_seed = variants.build_variants(
        coco, photos, tmp_path / "d", variants.variants_named(["wide_0.5"]), seed=4, progress=False
    )
    for name in names:
        assert first[name].read_bytes() == again[name].read_bytes()
        assert (first[name].parent / "p1.jpg").read_bytes() == (single[name].parent / "p1.jpg").read_bytes()
    assert (first["wide_0.5"].parent / "p1.jpg").read_bytes() != (other_seed["wide_0.5"].parent / "p1.jpg").read_bytes()


def test_group_holds_three_people_with_all_their_instances(painted_set, tmp_path):
    coco, photos = painted_set
    files = variants.build_variants(coco, photos, tmp_path / "out", variants.variants_named(["group"]), progress=False)
    group = read_coco(files["group"])
    first = group["images"][0]
    assert first["width"] == round(first["height"] * 16 / 9)
    assert sum(a["image_id"] == 1 for a in group["annotations"]) >= 6  # 3 people x (jacket, pants, maybe shoe)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variant"):
        variants.variants_named(["waist_up", "upside_down"])


def test_tiny_robustness_run_with_the_trained_unet(ccp_subset, ccp_root, tmp_path):
    from fashionseg.models.maskrcnn.evaluate import load_coco
    from fashionseg.models.unet.data import examples_from_coco
    from fashionseg.models.unet.evaluate import evaluate_unet
    from fashionseg.models.unet.predictor import GarmentSegmenter

    segmenter = GarmentSegmenter.load(settings.default_weights("unet"))
    coco = load_coco(ccp_subset / "garment.json")
    coco = {**coco, "images": coco["images"][:3]}
    result = robustness.run_robustness(
        "unet",
        segmenter,
        coco,
        ccp_root / "photos",
        tmp_path / "work",
        variants.variants_named(["original", "waist_up", "wide_0.5"]),
        progress=False,
    )
    assert list(result["variants"]) == ["original", "waist_up", "wide_0.5"] and result["images"] == 3
    direct = evaluate_unet(
        segmenter, examples_from_coco(ccp_subset / "garment.json", ccp_root / "photos")[:3], progress=False
    )
    # the untouched variant is the photo re-saved as JPEG 95: Dice within a hair of the photo's own
    assert result["variants"]["original"]["dice_mean"] == pytest.approx(direct["dice_mean"], abs=0.01)
    assert "| wide_0.5 |" in robustness.format_table(result)


def test_robustness_cli_writes_json_and_a_registry_record(ccp_subset, ccp_root, tmp_path, run_cli):
    env = {**os.environ, "FASHIONSEG_EXPERIMENTS": str(tmp_path / "registry")}
    out = tmp_path / "robustness.json"
    r = run_cli(
        "robustness",
        "maskrcnn",
        "--test",
        str(ccp_subset / "instances.json"),
        "--images",
        str(ccp_root / "photos"),
        "--limit",
        "2",
        "--variants",
        "original",
        "waist_up",
        "--out",
        str(out),
        "--quiet",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert list(result["variants"]) == ["original", "waist_up"]
    assert set(result["variants"]["original"]) == set(robustness.MASKRCNN_COLUMNS)
    assert "| waist_up |" in r.stdout
    (record,) = (tmp_path / "registry").glob("*.json")
    saved = json.loads(record.read_text())
    assert saved["kind"] == "robustness" and saved["config"]["model_kind"] == "maskrcnn"
    assert saved["metrics"]["variants"] == result["variants"]
    bad = run_cli(
        "robustness",
        "maskrcnn",
        "--test",
        str(ccp_subset / "instances.json"),
        "--images",
        str(ccp_root / "photos"),
        "--variants",
        "sideways",
        "--out",
        str(tmp_path / "x.json"),
        env=env,
    )
    assert bad.returncode == 2 and "unknown variant" in bad.stderr and not (tmp_path / "x.json").exists()
