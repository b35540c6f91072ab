"""The hostile-input catalogue: broken and malicious input, each refused with one clear error.

Every case asserts the exact error type (through the CLI: exit status 2 and one
``error:`` line, no traceback) and that nothing was written: the store's
tables are unchanged, no store or output file appears. Data is made here, in
``tmp_path``; nothing needs ../shared or a trained model.
"""

from __future__ import annotations

import io
import json
import math
import re
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from fashionseg.cli import main
from fashionseg.convert.ccp import read_ids_file
from fashionseg.convert.fashionpedia import convert_fashionpedia
from fashionseg.convert.imaterialist import convert_imaterialist, encode_kaggle_rle
from fashionseg.core.coco import read_coco, validate_coco, write_coco
from fashionseg.core.images import load_image, read_image_size
from fashionseg.core.mapping import load_mapping
from fashionseg.core.masks import encode_rle
from fashionseg.core.vocabulary import IMATERIALIST46
from fashionseg.exceptions import (
    CCPFormatError,
    FashionSegError,
    ImageLoadError,
    IMaterialistFormatError,
    InvalidCocoError,
    MappingError,
    ModelFolderError,
    ModelNotTrainedError,
    StoreBusyError,
    StoreError,
    StoreNotFoundError,
    UsageError,
)
from fashionseg.store import AnnotationStore, NewAnnotation, import_coco

# ---------------------------------------------------------------- helpers


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but SQLite's (compared by content with :func:`dump`) -> its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith((".db", ".db-wal", ".db-shm"))
    }


def dump(db: Path) -> list[str]:
    """A SQLite file's whole content as SQL, read by a connection of its own."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return list(c.iterdump())


def one_error_line(capsys, code: int, *fragments: str) -> str:
    """Assert the CLI ended with status 2 and exactly one ``error: ...`` line holding ``fragments``."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def png_header(width: int, height: int) -> bytes:
    """A PNG with no pixel data: a header claiming ``width`` x ``height`` (what a decompression bomb looks like before decoding)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


def png(width: int = 8, height: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 30, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture()
def photos(tmp_path) -> Path:
    """An images folder with a.png and b.png (8 x 6), and a photo outside it that a hostile file_name points at."""
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(png())
    (folder / "b.png").write_bytes(png())
    (tmp_path / "outside.png").write_bytes(png())
    return folder


def good_doc() -> dict:
    mask = np.zeros((6, 8), bool)
    mask[1:3, 2:5] = True
    return {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 6, "width": 8},
            {"id": 2, "file_name": "b.png", "height": 6, "width": 8},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 0, "segmentation": encode_rle(mask)},
            {"id": 2, "image_id": 2, "category_id": 0, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]},
        ],
        "categories": [{"id": 0, "name": "shirt, blouse"}, {"id": 1, "name": "pants"}],
        "image_labels": [{"id": 1, "image_id": 1, "category_id": 1, "raw_label": "jean", "count": 1}],
    }


@pytest.fixture()
def store_with_data(tmp_path, photos) -> Path:
    """A store file holding ``good_doc`` as data set 'tiny'."""
    db = tmp_path / "store.db"
    import_coco(AnnotationStore(db), good_doc(), photos, "tiny")
    return db


def test_the_good_document_imports(store_with_data):
    """The baseline every hostile case below breaks one thing of."""
    assert AnnotationStore(store_with_data, create=False).review_progress("tiny") == (0, 2)


# ---------------------------------------------------------------- images


def _images(tmp_path: Path):
    (tmp_path / "folder.png").mkdir()
    whole = png(300, 200)
    return {
        "empty": b"",
        "text": b"this is not a photo",
        "truncated PNG": whole[: len(whole) // 2],
        "PPM (a format we do not accept)": b"P6 8 6 255\n" + bytes(8 * 6 * 3),
        "80-megapixel header": png_header(10_000, 8_000),
        "10-gigapixel header (PIL's bomb limit)": png_header(100_000, 100_000),
        "a folder": tmp_path / "folder.png",
        "a missing file": tmp_path / "missing.jpg",
    }


IMAGE_CASES = [
    "empty",
    "text",
    "truncated PNG",
    "PPM (a format we do not accept)",
    "80-megapixel header",
    "10-gigapixel header (PIL's bomb limit)",
    "a folder",
    "a missing file",
]


@pytest.mark.parametrize("case", IMAGE_CASES)
def test_bad_images_raise_image_load_error(tmp_path, case):
    source = _images(tmp_path)[case]
    with pytest.raises(ImageLoadError):
        load_image(source)
    if isinstance(source, bytes):
        path = tmp_path / "photo.png"
        path.write_bytes(source)
        source = path
    if case != "truncated PNG":  # the header alone is fine; decoding finds the cut
        with pytest.raises(ImageLoadError):
            read_image_size(source)


# ---------------------------------------------------------------- COCO import

NAN, INF = float("nan"), float("inf")
zigzag = [v for _ in range(2000) for v in (0, 0, 8, 6)]
big_mask_counts = encode_rle(np.ones((60, 80), bool))["counts"]

COCO_CASES = {
    # crashes in pycocotools before: a segmentation fault, or all the memory
    "polygon NaN": (lambda d: d["annotations"][1].update(segmentation=[[0, 0, NAN, 0, 4, 4]]), "NaN or infinite"),
    "polygon infinity": (lambda d: d["annotations"][1].update(segmentation=[[0, 0, INF, 0, 4, 4]]), "NaN or infinite"),
    "polygon 1e30": (lambda d: d["annotations"][1].update(segmentation=[[0, 0, 1e30, 0, 4, 4]]), "far outside"),
    "polygon -1e30": (lambda d: d["annotations"][1].update(segmentation=[[0, 0, 4, -1e30, 4, 4]]), "far outside"),
    "polygon 10**400": (lambda d: d["annotations"][1].update(segmentation=[[0, 0, 10**400, 0, 4, 4]]), "too large"),
    "polygon endless boundary": (lambda d: d["annotations"][1].update(segmentation=[zigzag]), "boundary"),
    "polygon of strings": (
        lambda d: d["annotations"][1].update(segmentation=[["0", 0, 4, 0, 4, 4]]),
        "must be numbers",
    ),
    "polygon of booleans": (
        lambda d: d["annotations"][1].update(segmentation=[[True, 0, 4, 0, 4, 4]]),
        "must be numbers",
    ),
    "polygon odd length": (
        lambda d: d["annotations"][1].update(segmentation=[[0, 0, 4, 0, 4, 4, 1]]),
        "at least 3 x,y points",
    ),
    # files outside the images folder
    "file_name ../": (lambda d: d["images"][0].update(file_name="../outside.png"), "leads out of the images folder"),
    "file_name absolute": (lambda d: d["images"][0].update(file_name="/etc/hostname"), "absolute path"),
    "file_name sub/../../": (lambda d: d["images"][0].update(file_name="sub/../../outside.png"), "leads out"),
    "file_name null": (lambda d: d["images"][0].update(file_name=None), "file_name must be a string, not null"),
    "file_name number": (lambda d: d["images"][0].update(file_name=7), "file_name must be a string"),
    "file_name NUL byte": (lambda d: d["images"][0].update(file_name="a.png\x00.jpg"), "control characters"),
    "file_name empty": (lambda d: d["images"][0].update(file_name=""), "empty"),
    # masks that do not decode to their image
    "RLE runs past the image end": (
        lambda d: d["annotations"][0].update(segmentation={"size": [6, 8], "counts": big_mask_counts}),
        "RLE runs cover 4800 pixels",
    ),
    "RLE runs short of the image": (
        lambda d: d["annotations"][0].update(segmentation={"size": [6, 8], "counts": [10, 5]}),
        "cover 15 pixels",
    ),
    "RLE negative run": (
        lambda d: d["annotations"][0].update(segmentation={"size": [6, 8], "counts": [-5, 53]}),
        "non-negative",
    ),
    "RLE not RLE at all": (
        lambda d: d["annotations"][0].update(segmentation={"size": [6, 8], "counts": "!!!!"}),
        "outside COCO's compressed format",
    ),
    "RLE cut mid-value": (
        lambda d: d["annotations"][0].update(segmentation={"size": [6, 8], "counts": "0P"}),
        "ends in the middle",
    ),
    "RLE counts a number": (
        lambda d: d["annotations"][0].update(segmentation={"size": [6, 8], "counts": 48}),
        "string or a list",
    ),
    "RLE size of strings": (
        lambda d: d["annotations"][0].update(segmentation={"size": ["6", "8"], "counts": [48]}),
        "mask size ['6', '8']",
    ),
    "RLE of another size": (
        lambda d: d["annotations"][0].update(segmentation=encode_rle(np.zeros((5, 5), bool))),
        "mask size [5, 5]",
    ),
    # wrong field types and values
    "height 'abc'": (lambda d: d["images"][0].update(height="abc"), "height 'abc' is not a positive integer"),
    "negative width": (lambda d: d["images"][0].update(width=-8), "width -8 is not a positive integer"),
    "height NaN": (lambda d: d["images"][0].update(height=NAN), "height nan"),
    "image id a list": (lambda d: d["images"][0].update(id=[1]), "id [1] is not a non-negative integer"),
    "image id too big for SQLite": (lambda d: d["images"][0].update(id=2**64), "is over the largest id a store holds"),
    "annotation id a string": (lambda d: d["annotations"][0].update(id="1"), "is not a non-negative integer"),
    "duplicate file_name": (lambda d: d["images"][1].update(file_name="./a.png"), "duplicate file_name 'a.png'"),
    "duplicate category name": (lambda d: d["categories"][1].update(name="shirt, blouse"), "duplicate category name"),
    "category name null": (lambda d: d["categories"][1].update(name=None), "name must be a non-empty string"),
    "label count 'many'": (lambda d: d["image_labels"][0].update(count="many"), "count 'many'"),
    "label id a list": (lambda d: d["image_labels"][0].update(id=[1]), "id [1]"),
    "score 'high'": (lambda d: d["annotations"][0].update(score="high"), "score must be a number"),
    "iscrowd 7": (lambda d: d["annotations"][0].update(iscrowd=7), "iscrowd must be 0 or 1"),
    "reviewed 'yes'": (lambda d: d["images"][0].update(reviewed="yes"), "reviewed must be true or false"),
    "declared 100000 x 100000": (
        lambda d: d["images"][0].update(height=100_000, width=100_000),
        "over the limit of 50 megapixels",
    ),
    "images an object": (lambda d: d.update(images={}), "missing 'images' list"),
    "image_labels an object": (lambda d: d.update(image_labels={}), "'image_labels' must be a list"),
}


@pytest.mark.parametrize("case", list(COCO_CASES))
def test_bad_coco_is_refused_whole_and_the_store_is_unchanged(store_with_data, photos, case):
    breakage, message = COCO_CASES[case]
    doc = good_doc()
    breakage(doc)
    before = dump(store_with_data)
    with pytest.raises(InvalidCocoError, match=re.escape(message)):
        import_coco(AnnotationStore(store_with_data), doc, photos, "second")
    assert dump(store_with_data) == before


def test_an_image_over_the_pixel_limit_inside_an_import_is_refused(store_with_data, photos):
    (photos / "a.png").write_bytes(png_header(100_000, 100_000))  # the document still says 8 x 6
    before = dump(store_with_data)
    with pytest.raises(InvalidCocoError, match=r"image 1: .*a\.png: refused as a decompression bomb"):
        import_coco(AnnotationStore(store_with_data), good_doc(), photos, "second")
    (photos / "a.png").write_bytes(png_header(10_000, 8_000))
    with pytest.raises(InvalidCocoError, match=r"image 1: .*over the limit of 50 megapixels"):
        import_coco(AnnotationStore(store_with_data), good_doc(), photos, "second")
    assert dump(store_with_data) == before


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"images": [', "not valid JSON"),
        (b"[]", "JSON object"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"images": [], "annotations": [], "categories": [], "fashionseg": []}', "'fashionseg' must be an object"),
    ],
)
def test_unreadable_coco_files(tmp_path, store_with_data, photos, content, message):
    (tmp_path / "in.json").write_bytes(content)
    before = dump(store_with_data)
    with pytest.raises(InvalidCocoError, match=message):
        import_coco(AnnotationStore(store_with_data), tmp_path / "in.json", photos, "second")
    assert dump(store_with_data) == before


# ---------------------------------------------------------------- converters


def _kaggle(tmp_path: Path, rows: list[tuple], raw: bytes | None = None) -> tuple[Path, Path]:
    labels = {"categories": [{"id": c.id, "name": c.name} for c in IMATERIALIST46.categories]}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    csv_path = tmp_path / "train.csv"
    if raw is not None:
        csv_path.write_bytes(raw)
    else:
        lines = ["ImageId,EncodedPixels,Height,Width,ClassId"] + [",".join(map(str, r)) for r in rows]
        csv_path.write_text("\n".join(lines) + "\n")
    return csv_path, tmp_path / "labels.json"


shoe = np.zeros((30, 20), bool)
shoe[25:29, 2:8] = True
IMATERIALIST_CASES = {
    "negative Height": ([("img1", "1 3", -30, 20, "23")], None, "must be positive"),
    "Height and Width 0": ([("img1", "1 3", 0, 0, "23")], None, "must be positive"),
    "200000 x 200000 (37 GiB)": ([("img1", "1 3", 200_000, 200_000, "23")], None, "over the limit of 50 megapixels"),
    "Height 'tall'": ([("img1", "1 3", "tall", 20, "23")], None, "bad ClassId/Height/Width"),
    "runs past the image": ([("img1", "590 20", 30, 20, "23")], None, "falls outside"),
    "ImageId leads out": ([("../evil", encode_kaggle_rle(shoe), 30, 20, "23")], None, "leads out of the images folder"),
    "ImageId empty": ([("", encode_kaggle_rle(shoe), 30, 20, "23")], None, "ImageId: is empty"),
    "Latin-1 CSV": (
        [],
        "ImageId,EncodedPixels,Height,Width,ClassId\nimg\xe9,1 3,30,20,23\n".encode("latin-1"),
        "not UTF-8",
    ),
    "NUL byte in the CSV": ([], b"ImageId,EncodedPixels,Height,Width,ClassId\nimg1,1 3\x00,30,20,23\n", "line"),
    "missing columns": ([], b"ImageId,Height\nimg1,30\n", "missing column(s) EncodedPixels, Width, ClassId"),
}


@pytest.mark.parametrize("case", list(IMATERIALIST_CASES))
def test_convert_imaterialist_refuses_and_writes_nothing(tmp_path, case):
    rows, raw, message = IMATERIALIST_CASES[case]
    csv_path, labels = _kaggle(tmp_path, rows, raw)
    with pytest.raises(IMaterialistFormatError, match=re.escape(message)):
        convert_imaterialist(csv_path, labels, tmp_path / "out.json", progress=False)
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: d["images"][0].update(file_name=None), "file_name must be a string, not null"),
        (lambda d: d["annotations"][1].update(segmentation=[[0, 0, NAN, 0, 4, 4]]), "NaN or infinite"),
        (
            lambda d: d["annotations"][0].update(segmentation={"size": [6, 8], "counts": big_mask_counts}),
            "RLE runs cover",
        ),
    ],
)
def test_convert_fashionpedia_refuses_and_writes_nothing(tmp_path, breakage, message):
    doc = good_doc()
    breakage(doc)
    (tmp_path / "fp.json").write_text(json.dumps(doc))  # json writes NaN as NaN, as a careless tool would
    with pytest.raises(InvalidCocoError, match=message):
        convert_fashionpedia(tmp_path / "fp.json", tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    "content, error, message",
    [
        ("12\n\xe913\n".encode("latin-1"), CCPFormatError, "not UTF-8"),
        (b"12\nmany\n", CCPFormatError, "line 2"),
    ],
)
def test_ids_files(tmp_path, content, error, message):
    (tmp_path / "ids.txt").write_bytes(content)
    with pytest.raises(error, match=message):
        read_ids_file(tmp_path / "ids.txt")


@pytest.mark.parametrize(
    "content, message",
    [
        ("rules:\n  caf\xe9: shoe\n".encode("latin-1"), "not UTF-8"),
        (b"rules: [shoe]\n", "'rules' table"),
        (b"rules:\n  hat: crown\n", "unknown class"),
    ],
)
def test_mapping_files(tmp_path, content, message):
    (tmp_path / "m.yaml").write_bytes(content)
    with pytest.raises(MappingError, match=message):
        load_mapping(tmp_path / "m.yaml")


# ---------------------------------------------------------------- model folders


def maskrcnn_config() -> dict:
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig

    return json.loads(json.dumps(MaskRCNNConfig().to_dict()))


def unet_config() -> dict:
    from fashionseg.models.unet.model import UNetConfig

    return json.loads(UNetConfig(architecture="classic", input_size=64, base_filters=4, depth=2).to_json())


MODEL_CASES = {
    "config not JSON": ("maskrcnn", lambda d: (d / "config.json").write_text("{nope"), "not valid JSON"),
    "config a list": ("maskrcnn", lambda d: (d / "config.json").write_text("[]"), "top level must be a JSON object"),
    "config not UTF-8": ("maskrcnn", lambda d: (d / "config.json").write_bytes(b'{"NAME": "\xff"}'), "cannot be read"),
    "a U-Net's config in a Mask R-CNN folder": (
        "maskrcnn",
        lambda d: (d / "config.json").write_text(json.dumps(unet_config())),
        "this is a U-Net's config, not a Mask R-CNN's",
    ),
    "a Mask R-CNN's config in a U-Net folder": (
        "unet",
        lambda d: (d / "config.json").write_text(json.dumps(maskrcnn_config())),
        "this is a Mask R-CNN's config, not a U-Net's",
    ),
    "unknown key": (
        "maskrcnn",
        lambda d: (d / "config.json").write_text(json.dumps({**maskrcnn_config(), "GPU_COUNT": 1})),
        "unknown Mask R-CNN settings: GPU_COUNT",
    ),
    "mistyped value": (
        "maskrcnn",
        lambda d: (d / "config.json").write_text(json.dumps({**maskrcnn_config(), "IMAGE_MAX_DIM": "abc"})),
        "IMAGE_MAX_DIM must be a number",
    ),
    "impossible value": (
        "unet",
        lambda d: (d / "config.json").write_text(json.dumps({**unet_config(), "input_size": 100})),
        "not a valid U-Net config",
    ),
    "truncated model.onnx": (
        "maskrcnn",
        lambda d: (d / "model.onnx").write_bytes(b"\x08\x07\x12\x04onnx" * 3),
        "ONNX Runtime cannot load it",
    ),
    "truncated model.weights.h5": (
        "unet",
        lambda d: (d / "model.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100)),
        "the weights cannot be loaded",
    ),
}


def model_folder(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / kind
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(maskrcnn_config() if kind == "maskrcnn" else unet_config()))
    (folder / "model.weights.h5").write_bytes(b"")
    return folder


def load_model(kind: str, folder: Path, runtime: str | None = None):
    if kind == "maskrcnn":
        from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

        return InstanceSegmenter.load(folder, runtime=runtime)
    from fashionseg.models.unet.predictor import GarmentSegmenter

    return GarmentSegmenter.load(folder, runtime=runtime)


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_broken_model_folders(tmp_path, case):
    kind, breakage, message = MODEL_CASES[case]
    folder = model_folder(tmp_path, kind)
    breakage(folder)
    with pytest.raises(ModelFolderError, match=re.escape(message)):
        load_model(kind, folder, "onnx" if (folder / "model.onnx").exists() else "keras")


def test_an_empty_model_folder_is_not_a_trained_model(tmp_path):
    with pytest.raises(ModelNotTrainedError, match="no trained Mask R-CNN"):
        load_model("maskrcnn", tmp_path)


# ---------------------------------------------------------------- the store


def test_a_missing_store_is_an_error_for_readers_and_nothing_is_created(tmp_path):
    with pytest.raises(StoreNotFoundError, match="no annotation store at"):
        AnnotationStore(tmp_path / "typo" / "store.db", create=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda p: p.mkdir(), StoreError, "is a folder"),
        (lambda p: p.write_bytes(b"not a database at all" * 100), StoreError, "not a SQLite database"),
        (lambda p: p.write_bytes(b""), StoreNotFoundError, "holds no annotation store"),
        (
            lambda p: sqlite3.connect(p).execute("CREATE TABLE other (x)").connection.commit(),
            StoreError,
            "not an annotation store",
        ),
    ],
)
def test_files_that_are_not_stores(tmp_path, make, error, message):
    path = tmp_path / "x.db"
    make(path)
    before = path.read_bytes() if path.is_file() else None
    for create in (False, True):
        if error is StoreNotFoundError and create:
            continue  # an empty file is where a new store may be made
        with pytest.raises(error, match=message):
            AnnotationStore(path, create=create)
    assert (path.read_bytes() if path.is_file() else None) == before


def test_a_read_only_store_reads_and_refuses_writes(store_with_data):
    before = dump(store_with_data)
    store = AnnotationStore(f"sqlite:///file:{store_with_data}?mode=ro&uri=true")
    image = store.images("tiny")[0]
    with pytest.raises(StoreError, match="read-only"):
        store.save_annotations(image.id, [], expected_revision=image.revision, author="ann")
    assert dump(store_with_data) == before


@pytest.mark.parametrize(
    "url, message",
    [
        ("nosuchdriver://x/y", "cannot use the database URL"),
        ("postgresql+nosuchdriver://nobody@localhost/x", "cannot use the database URL"),
        (
            "postgresql://nobody:secret@127.0.0.1:1/x",
            r"cannot reach the annotation store postgresql://nobody:\*\*\*@127.0.0.1:1/x: the server is not running",
        ),
    ],
)
def test_unusable_database_urls(url, message):
    with pytest.raises(StoreError, match=message):
        AnnotationStore(url)


@pytest.mark.parametrize("counts", [big_mask_counts, "!!!!", [-5, 53]])
def test_saving_a_corrupt_mask_is_refused(store_with_data, counts):
    store = AnnotationStore(store_with_data)
    image = store.images("tiny")[0]
    before = dump(store_with_data)
    with pytest.raises(StoreError, match="annotation 0"):
        store.save_annotations(
            image.id, [NewAnnotation(0, {"size": [6, 8], "counts": counts})], expected_revision=0, author="ann"
        )
    assert dump(store_with_data) == before


HOLD_WRITE_LOCK = textwrap.dedent("""
    import sqlite3, sys, time
    c = sqlite3.connect(sys.argv[1], isolation_level=None)
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO history (dataset_id, action, author, at) VALUES (1, 'lock', 'holder', 'now')")
    print("locked", flush=True)
    time.sleep(120)
""")


def test_reads_answer_while_another_process_holds_the_write_lock(store_with_data, capsys):
    before = dump(store_with_data)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(store_with_data)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.perf_counter()
        code = main(["store", "list", "--db", str(store_with_data)])
        elapsed = time.perf_counter() - start
        assert code == 0 and "tiny: 2 images, 0 reviewed" in capsys.readouterr().out
        assert elapsed < 5, f"store list took {elapsed:.1f} s while a writer held the lock"  # it waited 15 s before
        code = main(
            ["store", "export", "tiny", "--out", str(store_with_data.parent / "x.json"), "--db", str(store_with_data)]
        )
        assert code == 0 and len(read_coco(store_with_data.parent / "x.json")["annotations"]) == 2
        # A writer waits up to its busy timeout, then says so; it writes nothing.
        store = AnnotationStore(store_with_data, busy_timeout=0.3)
        image = store.images("tiny")[0]
        with pytest.raises(StoreBusyError, match=r"is busy: another process has held its write lock for over 0\.3 s"):
            store.save_annotations(image.id, [], expected_revision=image.revision, author="ann")
    finally:
        holder.kill()
        holder.wait()
    assert dump(store_with_data) == before  # the holder's uncommitted row is gone too


# ---------------------------------------------------------------- CLI arguments and outputs


@pytest.fixture()
def cli_dir(tmp_path, monkeypatch):
    """A working folder with photos a.jpg, a.png, sub/a.jpg and a file named 'afile'."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    for name in ("a.jpg", "a.png", "sub/a.jpg"):
        Image.new("RGB", (40, 30), (10, 200, 30)).save(tmp_path / name)
    (tmp_path / "afile").write_text("x")
    return tmp_path


CLI_CASES = {
    "--threshold nan": (
        ["predict", "unet", "a.jpg", "--out", "o", "--threshold", "nan"],
        "'nan' is not a finite number",
    ),
    "--threshold 1.5": (["predict", "unet", "a.jpg", "--out", "o", "--threshold", "1.5"], "'1.5' is not from 0 to 1"),
    "--min-confidence inf": (
        ["predict", "maskrcnn", "a.jpg", "--out", "o", "--min-confidence", "inf"],
        "not a finite number",
    ),
    "--max-instances 0": (["predict", "maskrcnn", "a.jpg", "--out", "o", "--max-instances", "0"], "'0' is below 1"),
    "--max-per-class unknown class": (
        ["predict", "maskrcnn", "a.jpg", "--out", "o", "--max-per-class", "hat=2"],
        "'hat' is not a class",
    ),
    "--max-per-class without =": (
        ["predict", "maskrcnn", "a.jpg", "--out", "o", "--max-per-class", "shoe"],
        "is not CLASS=N",
    ),
    "--max-per-class shoe=many": (
        ["predict", "maskrcnn", "a.jpg", "--out", "o", "--max-per-class", "shoe=many"],
        "not a whole number",
    ),
    "--max-per-class shoe=-1": (
        ["predict", "maskrcnn", "a.jpg", "--out", "o", "--max-per-class", "shoe=-1"],
        "below 0",
    ),
    "--max-per-class a class twice": (
        ["predict", "maskrcnn", "a.jpg", "--out", "o", "--max-per-class", "shoe=1", "shoe=2"],
        "a class twice",
    ),
    "--val-fraction nan": (
        ["convert", "fashionpedia", "x.json", "--out", "o.json", "--val-fraction", "nan"],
        "not a finite number",
    ),
    "--limit -1": (["store", "preannotate", "x", "--limit", "-1", "--db", "nowhere.db"], "below 1"),
    "--repeat 0": (["bench", "unet", "--repeat", "0"], "below 1"),
    "an unknown command": (["bogus"], "invalid choice: 'bogus'"),
    "photos whose outputs collide": (
        ["predict", "unet", "a.jpg", "a.png", "sub/a.jpg", "--out", "o"],
        "a.jpg and a.png would write the same files",
    ),
    "--out naming a file (predict)": (["predict", "unet", "a.jpg", "--out", "afile"], "afile is a file, not a folder"),
    "--out below a file": (["predict", "unet", "a.jpg", "--out", "afile/o"], "afile is a file, not a folder"),
    "--out naming a file (convert ccp)": (
        ["convert", "ccp", "nowhere", "--out", "afile"],
        "afile is a file, not a folder",
    ),
    "--out naming a folder (export)": (
        ["store", "export", "x", "--out", "sub", "--db", "nowhere.db"],
        "is a folder; name the file",
    ),
    "--out naming a folder (convert)": (
        ["convert", "imaterialist", "t.csv", "--labels", "l.json", "--out", "sub"],
        "is a folder",
    ),
    "a missing photo": (["predict", "unet", "missing.jpg", "--out", "o"], "missing.jpg: no such file"),
    "a photo that is not one": (["predict", "unet", "afile", "--out", "o"], "afile: not an image"),
    "a mistyped --db (list)": (["store", "list", "--db", "typo/store.db"], "no annotation store at"),
    "a mistyped --db (export)": (
        ["store", "export", "x", "--out", "x.json", "--db", "typo.db"],
        "no annotation store at",
    ),
    "a mistyped --db (preannotate)": (["store", "preannotate", "x", "--db", "typo.db"], "no annotation store at"),
    "a folder as --db": (["store", "list", "--db", "sub"], "is a folder, not a store file"),
    "a photo as --db": (["store", "list", "--db", "a.jpg"], "not a SQLite database"),
    "a non-UTF-8 ids file": (["convert", "ccp", "nowhere", "--out", "o", "--ids-file", "a.jpg"], "not UTF-8 text"),
    "a missing CSV": (
        ["convert", "imaterialist", "missing.csv", "--labels", "missing.json", "--out", "o.json"],
        "missing.json: no such file",
    ),
    "a non-UTF-8 mapping": (
        ["convert", "fashionpedia", "x.json", "--out", "o.json", "--mapping", "a.png"],
        "not UTF-8 text",
    ),
    "a folder with no model": (
        ["predict", "unet", "a.jpg", "--out", "o", "--weights", "sub"],
        "no trained U-Net in sub",
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_refuses_with_one_error_line_and_writes_nothing(cli_dir, capsys, case):
    argv, message = CLI_CASES[case]
    before = files(cli_dir)
    one_error_line(capsys, main(argv), message)
    assert files(cli_dir) == before
    assert sorted(p.name for p in cli_dir.iterdir()) == ["a.jpg", "a.png", "afile", "sub"]  # no store, no output folder


def test_cli_broken_model_folder_is_one_error_line_and_writes_nothing(cli_dir, tmp_path_factory, capsys):
    folder = model_folder(tmp_path_factory.mktemp("weights"), "unet")
    (folder / "config.json").write_text('{"architecture": "classic", "input_size": ')
    code = main(["predict", "unet", "a.jpg", "--out", "o", "--weights", str(folder)])
    one_error_line(capsys, code, "config.json: not valid JSON")
    assert not (cli_dir / "o").exists()


def test_cli_unknown_class_is_refused_before_the_model_loads(cli_dir, capsys, monkeypatch):
    """A malformed cap never reaches a model: loading one would fail this test."""
    import fashionseg.cli.common as common

    monkeypatch.setattr(common, "load_maskrcnn", lambda *a: pytest.fail("the model was loaded"))
    one_error_line(
        capsys, main(["predict", "maskrcnn", "a.jpg", "--out", "o", "--max-per-class", "hat=1"]), "'hat' is not a class"
    )


def test_cli_store_import_of_a_bad_file_creates_no_store(cli_dir, photos, capsys):
    doc = good_doc()
    doc["annotations"][1]["segmentation"] = [[0, 0, 1e30, 0, 4, 4]]
    write_coco(doc, cli_dir / "in.json")
    code = main(
        ["store", "import", "in.json", "--images", str(photos), "--name", "t", "--db", "new/store.db", "--quiet"]
    )
    one_error_line(capsys, code, "in.json: annotation 2: bad segmentation", "far outside")
    assert not (cli_dir / "new").exists()


def test_cli_store_import_into_an_existing_store_changes_nothing(cli_dir, photos, store_with_data, capsys):
    before = dump(store_with_data)
    doc = good_doc()
    doc["images"][0]["file_name"] = "../outside.png"
    write_coco(doc, cli_dir / "in.json")
    code = main(
        ["store", "import", "in.json", "--images", str(photos), "--name", "t", "--db", str(store_with_data), "--quiet"]
    )
    one_error_line(capsys, code, "leads out of the images folder")
    write_coco(good_doc(), cli_dir / "good.json")
    code = main(
        [
            "store",
            "import",
            "good.json",
            "--images",
            str(photos),
            "--name",
            "tiny",
            "--db",
            str(store_with_data),
            "--quiet",
        ]
    )
    one_error_line(capsys, code, "a data set named 'tiny' exists already")
    assert dump(store_with_data) == before


class FakeCutout:
    def __init__(self, height: int, width: int):
        self.mask = np.zeros((height, width), bool)
        self.cutout = np.zeros((height, width, 4), np.uint8)
        self.threshold, self.timings = 0.5, {"model": 0.001}


class FakeSegmenter:
    second_pass = None

    def predict(self, source, threshold=None, double_pass=False):
        return FakeCutout(*load_image(source).shape[:2])


def test_predict_keeps_photos_of_one_name_in_different_folders_apart(cli_dir, capsys, monkeypatch):
    import fashionseg.cli.common as common

    monkeypatch.setattr(common, "load_unet", lambda *a: (FakeSegmenter(), Path("fake")))
    assert main(["predict", "unet", "a.jpg", "sub/a.jpg", "a.jpg", "--out", "o"]) == 0  # a.jpg twice: run once
    written = sorted(str(p.relative_to(cli_dir / "o")) for p in (cli_dir / "o").rglob("*.png"))
    assert written == ["a_cutout.png", "a_mask.png", "sub/a_cutout.png", "sub/a_mask.png"]


def test_every_error_type_is_a_fashionseg_error():
    from fashionseg import exceptions

    user_errors = [
        v
        for v in vars(exceptions).values()
        if isinstance(v, type) and issubclass(v, Exception) and v is not FashionSegError
    ]
    assert len(user_errors) >= 15 and all(issubclass(e, FashionSegError) for e in user_errors)
    # the old names and bases still work
    from fashionseg.core.coco import CocoFormatError
    from fashionseg.evaluation.ray_batch import RayClusterError
    from fashionseg.store import ConflictError

    assert RayClusterError is exceptions.RayClusterError and issubclass(RayClusterError, ConnectionError)
    assert CocoFormatError is InvalidCocoError and issubclass(InvalidCocoError, ValueError)
    assert issubclass(ModelNotTrainedError, FileNotFoundError)
    assert issubclass(ConflictError, RuntimeError) and issubclass(UsageError, ValueError)


def test_a_real_process_survives_a_nan_polygon_with_one_error_line(tmp_path, photos, run_cli):
    """The crash of the issue, in a process of its own: no segmentation fault, no traceback, no store."""
    doc = good_doc()
    doc["annotations"][1]["segmentation"] = [[0, 0, math.nan, 0, 4, 4, 1e30, 1e30]]
    (tmp_path / "in.json").write_text(json.dumps(doc))
    r = run_cli(
        "store",
        "import",
        str(tmp_path / "in.json"),
        "--images",
        str(photos),
        "--name",
        "t",
        "--db",
        str(tmp_path / "s.db"),
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1 and "NaN or infinite" in r.stderr
    assert not (tmp_path / "s.db").exists()
    r = run_cli("convert", "fashionpedia", str(tmp_path / "in.json"), "--out", str(tmp_path / "out.json"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and not (tmp_path / "out.json").exists()
    # A broken model folder is found before TensorFlow loads, so its line is the only one.
    folder = model_folder(tmp_path, "maskrcnn")
    (folder / "config.json").write_text(json.dumps(unet_config()))
    r = run_cli("predict", "maskrcnn", str(photos / "a.png"), "--weights", str(folder), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: {folder / 'config.json'}: this is a U-Net's config, not a Mask R-CNN's; is it the right model folder?"
    ], r.stderr
    assert not (tmp_path / "o").exists()


def test_validation_leaves_good_documents_alone():
    """The checks refuse what is broken only: points slightly outside the image, as tools draw them, pass."""
    doc = good_doc()
    doc["annotations"][1]["segmentation"] = [[-2.5, -1, 9.5, 0, 8, 6.5]]
    checked = validate_coco(doc)
    assert [a["segmentation"]["size"] for a in checked["annotations"]] == [[6, 8], [6, 8]]


@pytest.mark.parametrize(
    "options",
    [
        {"min_confidence": math.nan},
        {"max_instances": 0},
        {"max_per_class": {"hat": 1}},
        {"max_per_class": {"shoe": -1}},
    ],
)
def test_predictor_options_are_refused_before_the_model_runs(options):
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

    segmenter = InstanceSegmenter(lambda batch: pytest.fail("the model ran"), MaskRCNNConfig())
    with pytest.raises(UsageError):
        segmenter.predict(np.zeros((8, 8, 3), np.uint8), **options)


def test_unet_threshold_nan_is_refused_before_the_model_runs():
    from fashionseg.models.unet.model import UNetConfig
    from fashionseg.models.unet.predictor import GarmentSegmenter

    segmenter = GarmentSegmenter(lambda batch: pytest.fail("the model ran"), UNetConfig())
    with pytest.raises(UsageError, match="threshold"):
        segmenter.predict(np.zeros((8, 8, 3), np.uint8), threshold=math.nan)


# ---------------------------------------------------------------- the app's upload paths

APP = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "content, message",
    [
        (
            json.dumps(
                {
                    **good_doc(),
                    "annotations": [
                        {"id": 1, "image_id": 1, "category_id": 0, "segmentation": [[0, 0, 1e30, 0, 4, 4]]}
                    ],
                }
            ).encode(),
            "far outside",
        ),
        (b"\xff\xfe not UTF-8", "up.json: not UTF-8 text"),
        (
            json.dumps(
                {**good_doc(), "images": [{"id": 1, "file_name": "../outside.png", "height": 6, "width": 8}]}
            ).encode(),
            "leads out",
        ),
    ],
)
def test_an_uploaded_coco_file_gets_the_imports_checks(store_with_data, photos, content, message):
    from fashionseg.app.annotation_session import import_upload

    before = dump(store_with_data)
    with pytest.raises(InvalidCocoError, match=message):
        import_upload(AnnotationStore(store_with_data), content, "up.json", str(photos), "uploaded", "ann")
    assert dump(store_with_data) == before


def test_the_annotate_page_shows_an_unusable_store_as_an_error(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    (tmp_path / "store.db").write_bytes(b"not a database" * 100)
    monkeypatch.setenv("FASHIONSEG_STORE", str(tmp_path / "store.db"))
    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    at = AppTest.from_file(str(APP / "app_pages" / "annotate.py"), default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1 and "not a SQLite database" in at.error[0].value.replace("\\", "")


def test_the_segment_page_shows_a_broken_model_folder_as_an_error(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    folder = model_folder(tmp_path, "maskrcnn")
    (folder / "config.json").write_text(json.dumps({**maskrcnn_config(), "GPU_COUNT": 1}))
    (tmp_path / "defaults.json").write_text(json.dumps({"maskrcnn": "maskrcnn"}))
    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    at = AppTest.from_file(str(APP / "app_pages" / "segment.py"), default_timeout=60).run()
    assert not at.exception
    shown = [e.value.replace("\\", "") for e in at.error]  # markdown escapes taken out
    assert any("config.json: unknown Mask R-CNN settings: GPU_COUNT" in text for text in shown), shown


def test_predict_decodes_every_photo_before_the_first_result(cli_dir, capsys, monkeypatch):
    """A truncated photo late in the batch fails the run before anything is written, not halfway through it."""
    import fashionseg.cli.common as common

    monkeypatch.setattr(common, "load_unet", lambda *a: pytest.fail("the model was loaded"))
    whole = png(300, 200)
    (cli_dir / "z.png").write_bytes(whole[: len(whole) // 2])
    one_error_line(
        capsys,
        main(["predict", "unet", "a.jpg", "sub/a.jpg", "z.png", "--out", "o"]),
        "z.png: corrupt or truncated image",
    )
    assert not (cli_dir / "o").exists()


def test_preannotate_never_reads_outside_the_images_folder(store_with_data):
    """A store filled before imports refused such names: pre-annotation skips the image and says why."""
    from fashionseg.annotation.preannotation import preannotate

    with sqlite3.connect(store_with_data) as c:
        c.execute("UPDATE images SET file_name = '../outside.png' WHERE coco_id = 2")

    class Recorder:
        read: ClassVar[list] = []

        def predict(self, path):
            self.read.append(Path(path).name)
            raise ImageLoadError(f"{path}: not an image")

    report = preannotate(AnnotationStore(store_with_data), "tiny", Recorder(), model_name="m", overwrite=True)
    assert Recorder.read == ["a.png"]
    assert any(
        "../outside.png: file_name '../outside.png' leads out of the images folder" in line for line in report.failed
    )
