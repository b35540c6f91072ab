import json

import numpy as np
import pytest
from conftest import annotated_ids
from pycocotools.coco import COCO

from fashionseg.convert.ccp import (
    CCPFormatError,
    garment_mask,
    instances_from_label_map,
    read_ids_file,
    read_label_map,
    read_tags,
    split_touching_pair,
)
from fashionseg.core.mapping import load_mapping
from fashionseg.core.masks import decode_rle
from fashionseg.core.split import assign_split
from fashionseg.core.vocabulary import CCP59, FASHIONSEG11


def load(path):
    return json.loads(path.read_text())


def test_cli_contract_writes_three_files_pycocotools_loads(ccp_root, tmp_path, run_cli):
    first, second = annotated_ids(ccp_root, "pixel-level")[:2]
    tagged = annotated_ids(ccp_root, "image-level")[0]
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# two pixel-level and one image-level photo\n{first}\n{second}\n\n{tagged}\n")
    out = tmp_path / "out"
    result = run_cli("convert", "ccp", str(ccp_root), "--out", str(out), "--ids-file", str(ids))
    assert result.returncode == 0, result.stderr
    for name in ("instances.json", "garment.json", "client.json"):
        coco = COCO(str(out / name))
        assert coco.getImgIds()
    instances = load(out / "instances.json")
    assert sorted(im["id"] for im in instances["images"]) == [first, second]
    assert [im["file_name"] for im in instances["images"]] == [f"{first:04d}.jpg", f"{second:04d}.jpg"]
    assert [c["name"] for c in instances["categories"]] == list(FASHIONSEG11.names)
    assert [im["id"] for im in load(out / "client.json")["images"]] == [tagged]
    assert load(out / "garment.json")["categories"] == [{"id": 1, "name": "garment", "supercategory": "garment"}]


def test_instance_masks_match_the_mat_label_maps(ccp_root, ccp_subset, ccp_subset_ids):
    coco = load(ccp_subset / "instances.json")
    mapping = load_mapping("ccp")
    assert {im["id"] for im in coco["images"]} == ccp_subset_ids & set(annotated_ids(ccp_root, "pixel-level"))
    for image in coco["images"]:
        label_map = read_label_map(ccp_root / "annotations" / "pixel-level" / f"{image['id']:04d}.mat")
        assert label_map.shape == (image["height"], image["width"])
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        for class_name in FASHIONSEG11.names:
            source_ids = [i for i, n in enumerate(CCP59.names) if class_name in mapping.classes_for(n)]
            truth = np.isin(label_map, source_ids)
            masks = [decode_rle(a["segmentation"]) for a in anns if a["category_id"] == FASHIONSEG11.id_of(class_name)]
            union = np.any(masks, axis=0) if masks else np.zeros_like(truth)
            # Every instance pixel carries a label of its class; instances never overlap.
            assert not (union & ~truth).any()
            assert sum(int(m.sum()) for m in masks) == int(union.sum())
            # Only specks under min_area (100 px) are left out.
            assert int(truth.sum()) - int(union.sum()) < 100 * 20
        for a in anns:
            mask = decode_rle(a["segmentation"])
            assert a["area"] == int(mask.sum()) >= 100
            ys, xs = np.nonzero(mask)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_garment_mask_is_every_label_but_null_skin_hair(ccp_root, ccp_subset):
    coco = load(ccp_subset / "garment.json")
    not_garment = [CCP59.id_of(n) for n in ("null", "skin", "hair")]
    for ann in coco["annotations"]:
        label_map = read_label_map(ccp_root / "annotations" / "pixel-level" / f"{ann['image_id']:04d}.mat")
        np.testing.assert_array_equal(decode_rle(ann["segmentation"]), ~np.isin(label_map, not_garment))
    assert len(coco["annotations"]) == len(coco["images"])


def test_client_labels_keep_raw_tags_and_count_pairs(ccp_root, ccp_subset, ccp_subset_ids):
    coco = load(ccp_subset / "client.json")
    assert {im["id"] for im in coco["images"]} == ccp_subset_ids & set(annotated_ids(ccp_root, "image-level"))
    assert coco["annotations"] == []
    mapping = load_mapping("ccp")
    for image in coco["images"]:
        tags = read_tags(ccp_root / "annotations" / "image-level" / f"{image['id']:04d}.mat")
        labels = [x for x in coco["image_labels"] if x["image_id"] == image["id"]]
        assert sorted({x["raw_label"] for x in labels}) == sorted({CCP59.names[t] for t in tags})
        for x in labels:
            classes = mapping.classes_for(x["raw_label"])
            if classes:
                assert x["count"] == classes.count(FASHIONSEG11.name_of(x["category_id"]))
            else:
                assert x["category_id"] is None and x["count"] == 0
    footwear = [x for x in coco["image_labels"] if x["raw_label"] in ("shoes", "boots", "heels", "sneakers")]
    assert footwear and all(x["count"] == 2 and x["category_id"] == FASHIONSEG11.id_of("shoe") for x in footwear)


def test_split_is_recorded_and_deterministic(ccp_subset):
    images = load(ccp_subset / "instances.json")["images"]
    assert all(im["split"] == assign_split(im["file_name"]) for im in images)
    shares = [assign_split(f"{i:04d}.jpg") for i in range(1, 2099)]
    assert 0.17 < shares.count("val") / len(shares) < 0.23


def test_two_touching_blobs_split_and_one_blob_does_not():
    yy, xx = np.mgrid[:100, :120]
    pair = ((yy - 50) ** 2 + (xx - 35) ** 2 < 25**2) | ((yy - 50) ** 2 + (xx - 83) ** 2 < 25**2)
    halves = split_touching_pair(pair)
    assert len(halves) == 2
    assert not (halves[0] & halves[1]).any() and ((halves[0] | halves[1]) == pair).all()
    single = ((yy - 50) / 20) ** 2 + ((xx - 60) / 50) ** 2 < 1  # one elongated shoe
    assert len(split_touching_pair(single)) == 1


def test_instance_rules_on_a_synthetic_label_map():
    label_map = np.zeros((200, 200), np.uint8)
    jacket, shoes, belt = CCP59.id_of("jacket"), CCP59.id_of("shoes"), CCP59.id_of("belt")
    label_map[20:100, 20:180] = jacket
    label_map[20:100, 95:105] = belt  # cuts the jacket in two: still one jacket
    label_map[150:180, 20:60] = shoes
    label_map[150:180, 120:160] = shoes
    label_map[150:153, 62:64] = shoes  # a 6 px speck: dropped
    label_map[185:190, 61:70] = shoes  # a 45 px fragment next to the left shoe, kept by min_area=10
    out = instances_from_label_map(label_map, load_mapping("ccp"), min_area=10)
    by_class = {}
    for inst in out:
        by_class.setdefault(inst.class_name, []).append(inst.mask)
    assert len(by_class["jacket"]) == 1 and by_class["jacket"][0].sum() == 80 * 150
    assert len(by_class["shoe"]) == 2
    left = next(m for m in by_class["shoe"] if m[160, 30])
    assert left[187, 65] and not left[151, 63]  # fragment joined, speck dropped
    assert set(by_class) == {"jacket", "shoe"}  # belt maps to nothing


def test_holes_stay_holes():
    label_map = np.full((50, 50), CCP59.id_of("dress"), np.uint8)
    label_map[20:30, 20:30] = CCP59.id_of("skin")
    (dress,) = instances_from_label_map(label_map, load_mapping("ccp"))
    assert not dress.mask[25, 25] and dress.mask.sum() == 2500 - 100
    assert garment_mask(label_map).sum() == 2500 - 100


def test_bad_inputs_give_clear_errors(tmp_path, ccp_root, run_cli):
    bad_ids = tmp_path / "ids.txt"
    bad_ids.write_text("1\nabc\n")
    with pytest.raises(CCPFormatError, match="line 2"):
        read_ids_file(bad_ids)
    not_mat = tmp_path / "x.mat"
    not_mat.write_text("hello")
    with pytest.raises(CCPFormatError, match="not a CCP pixel-level file"):
        read_label_map(not_mat)
    result = run_cli("convert", "ccp", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "expected CCP's layout" in result.stderr
