"""COCO documents: reading, validating, writing.

Our COCO files are plain COCO instances JSON (``images``, ``annotations``,
``categories``) that ``pycocotools.coco.COCO`` loads, plus two optional keys
pycocotools ignores:

- ``image_labels``: image-level labels without masks (the thesis' client data),
  ``{"id", "image_id", "category_id" (or null), "raw_label", "count"}``;
- ``fashionseg``: provenance (converter, source, mapping, split rule, counts of
  dropped labels).

Segmentations are always compressed RLE with a ``str`` ``counts``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fashionseg.files import write_text_atomic
from fashionseg.masks import segmentation_to_rle


class CocoFormatError(ValueError):
    """A COCO document is malformed; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{source}: {shown}{more}")


IMAGE_KEYS = ("id", "file_name", "height", "width")
ANNOTATION_KEYS = ("id", "image_id", "category_id", "segmentation")
CATEGORY_KEYS = ("id", "name")


def read_coco(path: str | Path) -> dict:
    """Load a COCO JSON file, raising :class:`CocoFormatError` if it is not JSON or not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CocoFormatError(str(path), ["no such file"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CocoFormatError(str(path), [f"not valid JSON ({exc})"]) from None
    if not isinstance(data, dict):
        raise CocoFormatError(str(path), ["the top level must be a JSON object"])
    return data


def validate_coco(data: dict, source: str = "COCO document", known_categories: set[int] | None = None) -> dict:
    """Check a COCO document and return it with every segmentation as compressed RLE.

    Checks required keys, duplicate ids, annotations pointing at unknown images
    or categories, and masks whose size differs from their image. Collects every
    problem before raising, so one error message lists them all.
    """
    problems: list[str] = []
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            problems.append(f"missing '{key}' list")
    if problems:
        raise CocoFormatError(source, problems)

    def check_entries(entries, kind, keys):
        ids = Counter()
        for n, entry in enumerate(entries):
            if not isinstance(entry, dict):
                problems.append(f"{kind} #{n} is not an object")
                continue
            missing = [k for k in keys if k not in entry]
            if missing:
                problems.append(f"{kind} #{n} (id {entry.get('id')}) lacks {', '.join(missing)}")
            if "id" in entry:
                ids[entry["id"]] += 1
        for dup, count in ids.items():
            if count > 1:
                problems.append(f"duplicate {kind} id {dup} ({count} times)")
        return {e["id"]: e for e in entries if isinstance(e, dict) and "id" in e}

    images = check_entries(data["images"], "image", IMAGE_KEYS)
    categories = check_entries(data["categories"], "category", CATEGORY_KEYS)
    check_entries(data["annotations"], "annotation", ANNOTATION_KEYS)
    if known_categories is not None:
        for cid, cat in categories.items():
            if cid not in known_categories:
                problems.append(f"unknown category id {cid} ({cat.get('name')!r})")
    if problems:
        raise CocoFormatError(source, problems)

    annotations = []
    for ann in data["annotations"]:
        image = images.get(ann["image_id"])
        if image is None:
            problems.append(f"annotation {ann['id']} refers to unknown image {ann['image_id']}")
            continue
        if ann["category_id"] not in categories:
            problems.append(f"annotation {ann['id']} has unknown category {ann['category_id']}")
            continue
        height, width = int(image["height"]), int(image["width"])
        seg = ann["segmentation"]
        if isinstance(seg, dict) and "size" in seg and [int(v) for v in seg["size"]] != [height, width]:
            problems.append(
                f"annotation {ann['id']}: mask size {list(seg['size'])} does not match image "
                f"{image['id']} ({height} x {width})"
            )
            continue
        try:
            rle = segmentation_to_rle(seg, height, width)
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"annotation {ann['id']}: bad segmentation ({exc})")
            continue
        annotations.append({**ann, "segmentation": rle})

    label_ids = Counter()
    for lab in data.get("image_labels", []):
        label_ids[lab.get("id")] += 1
        if lab.get("image_id") not in images:
            problems.append(f"image label {lab.get('id')} refers to unknown image {lab.get('image_id')}")
        if lab.get("category_id") is not None and lab["category_id"] not in categories:
            problems.append(f"image label {lab.get('id')} has unknown category {lab['category_id']}")
    problems += [f"duplicate image label id {i}" for i, c in label_ids.items() if c > 1]
    if problems:
        raise CocoFormatError(source, problems)
    return {**data, "annotations": annotations}


def write_coco(data: dict, path: str | Path) -> None:
    """Write a COCO document atomically (a crash never leaves half a file)."""
    write_text_atomic(path, dumps_coco(data))


def dumps_coco(data: dict) -> str:
    """Canonical JSON text: sorted keys, fixed separators, trailing newline."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
