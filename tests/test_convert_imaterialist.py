"""iMaterialist (Kaggle CSV) and Fashionpedia (COCO JSON) converters on files made here."""

import csv
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from fashionseg.convert.fashionpedia import convert_fashionpedia
from fashionseg.convert.imaterialist import (
    IMaterialistFormatError,
    convert_imaterialist,
    decode_kaggle_rle,
    encode_kaggle_rle,
)
from fashionseg.core.coco import CocoFormatError, read_coco
from fashionseg.core.masks import decode_rle, encode_rle
from fashionseg.core.vocabulary import FASHIONSEG11, IMATERIALIST46


def test_kaggle_rle_is_one_indexed_column_major():
    # 3 x 2 image; column-major pixel numbers: (0,0)=1 (1,0)=2 (2,0)=3 (0,1)=4 (1,1)=5 (2,1)=6
    mask = decode_kaggle_rle("2 2 6 1", 3, 2)
    assert mask.astype(int).tolist() == [[0, 0], [1, 0], [1, 1]]
    assert encode_kaggle_rle(mask) == "2 2 6 1"
    rng = np.random.default_rng(0)
    random = rng.random((17, 23)) > 0.6
    np.testing.assert_array_equal(decode_kaggle_rle(encode_kaggle_rle(random), 17, 23), random)
    for bad in ("1", "0 3", "5 10", "a b"):
        with pytest.raises(IMaterialistFormatError):
            decode_kaggle_rle(bad, 3, 2)


@pytest.fixture()
def kaggle_files(tmp_path):
    labels = {
        "info": {"year": 2019},
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in IMATERIALIST46.categories
        ],
        "attributes": [{"id": 0, "name": "above-the-hip (length)"}],
    }
    (tmp_path / "label_descriptions.json").write_text(json.dumps(labels))
    shoe, sleeve, shirt = np.zeros((30, 20), bool), np.zeros((30, 20), bool), np.zeros((30, 20), bool)
    shoe[25:29, 2:8] = True
    sleeve[5:10, 0:4] = True
    shirt[3:15, 2:18] = True
    rows = [
        ("img1", encode_kaggle_rle(shoe), 30, 20, "23"),
        ("img1", encode_kaggle_rle(sleeve), 30, 20, "31"),  # garment part: dropped
        ("img1", encode_kaggle_rle(shirt), 30, 20, "0_115_136"),  # attributes ignored
        ("img2", encode_kaggle_rle(shoe), 40, 10, "9"),  # coat: dropped, as in the thesis
    ]
    with open(tmp_path / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ImageId", "EncodedPixels", "Height", "Width", "ClassId"])
        for row in rows[:3]:
            writer.writerow(row)
        writer.writerow(("img2", encode_kaggle_rle(np.ones((40, 10), bool)), 40, 10, "9"))
    return tmp_path, {"shoe": shoe, "shirt, blouse": shirt}


def test_imaterialist_to_coco(kaggle_files):
    folder, masks = kaggle_files
    summary = convert_imaterialist(
        folder / "train.csv", folder / "label_descriptions.json", folder / "out.json", progress=False
    )
    assert summary == {
        "images": 2,
        "instances": {"shoe": 1, "shirt, blouse": 1},
        "dropped_labels": {"coat": 1, "sleeve": 1},
    }
    coco = COCO(str(folder / "out.json"))
    assert [im["file_name"] for im in coco.dataset["images"]] == ["img1.jpg", "img2.jpg"]
    for ann in coco.dataset["annotations"]:
        np.testing.assert_array_equal(decode_rle(ann["segmentation"]), masks[FASHIONSEG11.name_of(ann["category_id"])])


def test_imaterialist_bad_files(kaggle_files):
    folder, _ = kaggle_files
    (folder / "bad.csv").write_text("ImageId,EncodedPixels\nx,1 2\n")
    with pytest.raises(IMaterialistFormatError, match="missing column"):
        convert_imaterialist(folder / "bad.csv", folder / "label_descriptions.json", folder / "o.json", progress=False)
    (folder / "bad2.csv").write_text("ImageId,EncodedPixels,Height,Width,ClassId\nx,1 200,10,10,23\n")
    with pytest.raises(IMaterialistFormatError, match="line 2: run 1 200 falls outside"):
        convert_imaterialist(folder / "bad2.csv", folder / "label_descriptions.json", folder / "o.json", progress=False)
    (folder / "bad3.csv").write_text("ImageId,EncodedPixels,Height,Width,ClassId\nx,1 2,10,10,99\n")
    with pytest.raises(IMaterialistFormatError, match="ClassId 99"):
        convert_imaterialist(folder / "bad3.csv", folder / "label_descriptions.json", folder / "o.json", progress=False)


def test_imaterialist_cli(kaggle_files, run_cli):
    folder, _ = kaggle_files
    result = run_cli(
        "convert",
        "imaterialist",
        str(folder / "train.csv"),
        "--labels",
        str(folder / "label_descriptions.json"),
        "--out",
        str(folder / "cli.json"),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert len(read_coco(folder / "cli.json")["annotations"]) == 2


def test_fashionpedia_to_coco(tmp_path):
    umbrella = np.zeros((20, 30), bool)
    umbrella[2:12, 5:25] = True
    doc = {
        "info": {"description": "Fashionpedia"},
        "images": [{"id": 7, "file_name": "f.jpg", "height": 20, "width": 30}],
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in IMATERIALIST46.categories
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "category_id": 26,
                "segmentation": encode_rle(umbrella),
                "area": 1,
                "bbox": [0, 0, 0, 0],
                "iscrowd": 0,
                "attribute_ids": [3],
            },
            {
                "id": 2,
                "image_id": 7,
                "category_id": 23,
                "segmentation": [[1, 14, 8, 14, 8, 19, 1, 19]],
                "area": 35,
                "bbox": [1, 14, 7, 5],
                "iscrowd": 0,
            },
            {
                "id": 3,
                "image_id": 7,
                "category_id": 35,
                "segmentation": [[1, 1, 3, 1, 3, 3]],
                "area": 2,
                "bbox": [1, 1, 2, 2],
                "iscrowd": 0,
            },
        ],
    }
    (tmp_path / "fp.json").write_text(json.dumps(doc))
    summary = convert_fashionpedia(tmp_path / "fp.json", tmp_path / "out.json")
    assert summary["instances"] == {"umbrella": 1, "shoe": 1} and summary["dropped_labels"] == {"zipper": 1}
    out = COCO(str(tmp_path / "out.json")).dataset
    by_class = {FASHIONSEG11.name_of(a["category_id"]): a for a in out["annotations"]}
    np.testing.assert_array_equal(decode_rle(by_class["umbrella"]["segmentation"]), umbrella)
    assert by_class["umbrella"]["area"] == 200 and by_class["umbrella"]["bbox"] == [5.0, 2.0, 20.0, 10.0]
    assert "attribute_ids" not in by_class["umbrella"]
    assert by_class["shoe"]["area"] > 0
    doc["annotations"][0]["segmentation"] = encode_rle(np.zeros((5, 5), bool))
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(CocoFormatError, match="does not match image 7"):
        convert_fashionpedia(tmp_path / "bad.json", tmp_path / "o.json")
