"""iMaterialist (Fashion) 2019 Kaggle format -> COCO in the 11-class vocabulary.

The Kaggle ``train.csv`` has one row per segment: ``ImageId``, ``EncodedPixels``
(1-indexed start/length pairs over the image flattened column-major, i.e.
top-to-bottom then left-to-right), ``Height``, ``Width`` and ``ClassId``
(``"23"``, or ``"23_1_5"`` with fine-grained attribute ids after the class,
which the thesis ignores). ``label_descriptions.json`` names the classes.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashionseg.core.coco import file_name_problem, write_coco
from fashionseg.core.images import DEFAULT_MAX_PIXELS
from fashionseg.core.mapping import LabelMapping, load_mapping
from fashionseg.core.masks import encode_rle, mask_bbox
from fashionseg.core.split import DEFAULT_SALT, DEFAULT_VAL_FRACTION, assign_split
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.exceptions import IMaterialistFormatError

REQUIRED_COLUMNS = ("ImageId", "EncodedPixels", "Height", "Width", "ClassId")


def decode_kaggle_rle(encoded: str, height: int, width: int) -> np.ndarray:
    """Kaggle's 1-indexed column-major ``start length ...`` string -> boolean ``(H, W)`` mask.

    Example:
        >>> decode_kaggle_rle("2 2 6 1", 3, 2).astype(int).tolist()
        [[0, 0], [1, 0], [1, 1]]
    """
    values = encoded.split()
    if len(values) % 2:
        raise IMaterialistFormatError(f"EncodedPixels has an odd number of values ({len(values)})")
    try:
        pairs = np.asarray(values, dtype=np.int64).reshape(-1, 2)
    except ValueError:
        raise IMaterialistFormatError("EncodedPixels must be integers") from None
    flat = np.zeros(height * width, dtype=bool)
    for start, length in pairs:
        if start < 1 or length < 0 or start - 1 + length > flat.size:
            raise IMaterialistFormatError(f"run {start} {length} falls outside a {height} x {width} image")
        flat[start - 1 : start - 1 + length] = True
    return flat.reshape((height, width), order="F")


def encode_kaggle_rle(mask: np.ndarray) -> str:
    """The inverse of :func:`decode_kaggle_rle`."""
    flat = np.concatenate([[0], mask.flatten(order="F").astype(np.int8), [0]])
    changes = np.flatnonzero(np.diff(flat)) + 1
    starts, ends = changes[::2], changes[1::2]
    return " ".join(f"{s} {e - s}" for s, e in zip(starts, ends))


def read_label_descriptions(path: str | Path) -> dict[int, str]:
    """Kaggle class id -> category name."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {int(c["id"]): str(c["name"]) for c in data["categories"]}
    except FileNotFoundError:
        raise IMaterialistFormatError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise IMaterialistFormatError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise IMaterialistFormatError(f"{path}: not a label_descriptions.json ({exc})") from None


def _image_size(row: dict, max_pixels: int) -> tuple[int, int]:
    """A row's ``(Height, Width)``, refused unless both are positive and the image within ``max_pixels``."""
    height, width = int(row["Height"]), int(row["Width"])
    if height < 1 or width < 1:
        raise IMaterialistFormatError(f"Height/Width {height} x {width}: must be positive")
    if height * width > max_pixels:
        raise IMaterialistFormatError(
            f"Height/Width {height} x {width} is over the limit of {max_pixels / 1e6:g} megapixels"
        )
    return height, width


def convert_imaterialist(
    train_csv: str | Path,
    label_descriptions: str | Path,
    out: str | Path,
    mapping: LabelMapping | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    salt: str = DEFAULT_SALT,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict:
    """Convert a Kaggle ``train.csv`` to one COCO file; returns a summary of what was kept and dropped.

    Every row is checked (sizes positive and at most ``max_pixels``, runs
    inside the image, a safe file name) before the file is written.
    """
    mapping = mapping or load_mapping("imaterialist")
    names = read_label_descriptions(label_descriptions)
    try:
        images, annotations, kept, dropped = _read_rows(
            train_csv, names, label_descriptions, mapping, val_fraction, salt, progress, max_pixels
        )
    except FileNotFoundError:
        raise IMaterialistFormatError(f"{train_csv}: no such file") from None
    except UnicodeDecodeError as exc:
        raise IMaterialistFormatError(
            f"{train_csv}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise IMaterialistFormatError(f"{train_csv}: cannot be read ({exc.strerror or exc})") from None
    summary = {"images": len(images), "instances": dict(kept), "dropped_labels": dict(sorted(dropped.items()))}
    write_coco(
        {
            "images": list(images.values()),
            "annotations": annotations,
            "categories": FASHIONSEG11.coco_categories(),
            "fashionseg": {
                "converter": "fashionseg convert imaterialist",
                "source": str(train_csv),
                "mapping": mapping.to_dict(),
                "report": summary,
            },
        },
        out,
    )
    return summary


def _read_rows(train_csv, names, label_descriptions, mapping, val_fraction, salt, progress, max_pixels):
    images: dict[str, dict] = {}
    annotations = []
    kept, dropped = Counter(), Counter()
    with open(train_csv, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        try:
            fieldnames = reader.fieldnames or []
        except csv.Error as exc:
            raise IMaterialistFormatError(f"{train_csv}: not a CSV file ({exc})") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in fieldnames]
        if missing:
            raise IMaterialistFormatError(f"{train_csv}: missing column(s) {', '.join(missing)}")
        try:
            for line, row in enumerate(tqdm(reader, desc="iMaterialist", unit="segment", disable=not progress), 2):
                if any(row.get(c) is None for c in REQUIRED_COLUMNS):
                    raise IMaterialistFormatError(f"{train_csv}, line {line}: fewer values than columns")
                try:
                    class_id = int(row["ClassId"].split("_", 1)[0])
                    height, width = _image_size(row, max_pixels)
                except IMaterialistFormatError as exc:
                    raise IMaterialistFormatError(f"{train_csv}, line {line}: {exc}") from None
                except ValueError:
                    raise IMaterialistFormatError(f"{train_csv}, line {line}: bad ClassId/Height/Width") from None
                if class_id not in names:
                    raise IMaterialistFormatError(
                        f"{train_csv}, line {line}: ClassId {class_id} not in {label_descriptions}"
                    )
                image = images.get(row["ImageId"])
                if image is None:
                    file_name = row["ImageId"] if Path(row["ImageId"]).suffix else f"{row['ImageId']}.jpg"
                    problem = "is empty" if not row["ImageId"].strip() else file_name_problem(file_name)
                    if problem:
                        raise IMaterialistFormatError(f"{train_csv}, line {line}: ImageId: {problem}")
                    image = {
                        "id": len(images) + 1,
                        "file_name": file_name,
                        "height": height,
                        "width": width,
                        "split": assign_split(file_name, val_fraction, salt),
                    }
                    images[row["ImageId"]] = image
                elif (image["height"], image["width"]) != (height, width):
                    raise IMaterialistFormatError(f"{train_csv}, line {line}: {row['ImageId']} has two different sizes")
                classes = mapping.classes_for(names[class_id])
                if not classes:
                    dropped[names[class_id]] += 1
                    continue
                try:
                    mask = decode_kaggle_rle(row["EncodedPixels"], height, width)
                except IMaterialistFormatError as exc:
                    raise IMaterialistFormatError(f"{train_csv}, line {line}: {exc}") from None
                for class_name in classes:
                    annotations.append(
                        {
                            "id": len(annotations) + 1,
                            "image_id": image["id"],
                            "category_id": FASHIONSEG11.id_of(class_name),
                            "segmentation": encode_rle(mask),
                            "area": int(mask.sum()),
                            "bbox": mask_bbox(mask),
                            "iscrowd": 0,
                        }
                    )
                    kept[class_name] += 1
        except csv.Error as exc:  # a NUL byte, an unclosed quote, a field over the csv module's limit
            raise IMaterialistFormatError(f"{train_csv}, near line {reader.line_num}: {exc}") from None
    return images, annotations, kept, dropped
