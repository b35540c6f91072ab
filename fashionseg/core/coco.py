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
import posixpath
import re
from collections import Counter
from pathlib import Path

from fashionseg.core.files import write_text_atomic
from fashionseg.core.images import DEFAULT_MAX_PIXELS
from fashionseg.core.masks import is_int, segmentation_to_rle
from fashionseg.exceptions import CocoFormatError, InvalidCocoError

__all__ = [
    "CocoFormatError",
    "InvalidCocoError",
    "dumps_coco",
    "file_name_problem",
    "parse_coco",
    "read_coco",
    "validate_coco",
    "write_coco",
]

IMAGE_KEYS = ("id", "file_name", "height", "width")
ANNOTATION_KEYS = ("id", "image_id", "category_id", "segmentation")
CATEGORY_KEYS = ("id", "name")
MAX_ID = 2**63 - 1  # SQLite's INTEGER


def read_coco(path: str | Path) -> dict:
    """Load a COCO JSON file, raising :class:`InvalidCocoError` if it is unreadable, not JSON or not an object."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidCocoError(str(path), ["no such file"]) from None
    except OSError as exc:
        raise InvalidCocoError(str(path), [f"cannot be read ({exc.strerror or exc})"]) from None
    return parse_coco(data, str(path))


def parse_coco(data: bytes | str, source: str) -> dict:
    """A COCO document from JSON text or bytes (an uploaded file); ``source`` names it in errors."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        parsed = json.loads(text)
    except UnicodeDecodeError as exc:
        raise InvalidCocoError(
            source, [f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"]
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidCocoError(source, [f"not valid JSON ({exc})"]) from None
    except RecursionError:
        raise InvalidCocoError(source, ["not valid JSON (nested too deeply)"]) from None
    if not isinstance(parsed, dict):
        raise InvalidCocoError(source, ["the top level must be a JSON object"])
    return parsed


_DRIVE = re.compile(r"^[A-Za-z]:")


def file_name_problem(name) -> str | None:
    """Why ``name`` is not a safe image ``file_name`` (a relative path that stays inside the images folder), or None."""
    if not isinstance(name, str):
        return f"file_name must be a string, not {_json_type(name)}"
    if not name.strip():
        return "file_name is empty"
    if any(ord(ch) < 32 for ch in name):
        return f"file_name {name!r} holds control characters"
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        return f"file_name {name!r} is an absolute path; it must be relative to the images folder"
    if ".." in unified.split("/"):
        return f"file_name {name!r} leads out of the images folder ('..')"
    if posixpath.normpath(unified) in (".", ""):
        return f"file_name {name!r} names the images folder itself"
    return None


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _id_problem(value, what: str = "id") -> str | None:
    if not is_int(value) or value < 0:
        return f"{what} {value!r} is not a non-negative integer"
    if value > MAX_ID:
        return f"{what} {value} is over the largest id a store holds (2**63 - 1)"
    return None


def validate_coco(
    data: dict,
    source: str = "COCO document",
    known_categories: set[int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict:
    """Check a COCO document and return it with every segmentation as compressed RLE.

    Checks, before anything touches a mask: required keys and their types,
    ids, image sizes (at most ``max_pixels``), file names that stay inside
    the images folder, duplicate ids, file names and category names,
    annotations pointing at unknown images or categories, polygons with
    finite coordinates near the image, and RLEs that cover exactly their
    image. Collects every problem before raising, so one error lists them all.
    """
    if not isinstance(data, dict):
        raise InvalidCocoError(source, ["the top level must be a JSON object"])
    problems: list[str] = []
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            problems.append(f"missing '{key}' list")
    if not isinstance(data.get("image_labels", []), list):
        problems.append("'image_labels' must be a list")
    if not isinstance(data.get("fashionseg", {}), dict):
        problems.append("'fashionseg' must be an object")
    if problems:
        raise InvalidCocoError(source, problems)

    images = _check_entries(data["images"], "image", IMAGE_KEYS, problems, lambda im: _image_problems(im, max_pixels))
    categories = _check_entries(data["categories"], "category", CATEGORY_KEYS, problems, _category_problems)
    annotation_entries = _check_entries(
        data["annotations"], "annotation", ANNOTATION_KEYS, problems, _annotation_problems
    )
    _duplicates(
        problems,
        "file_name",
        {k: posixpath.normpath(im["file_name"].replace("\\", "/")) for k, im in images.items()},
        "images",
    )
    _duplicates(problems, "category name", {k: c["name"] for k, c in categories.items()}, "ids")
    if known_categories is not None:
        for cid, cat in categories.items():
            if cid not in known_categories:
                problems.append(f"unknown category id {cid} ({cat.get('name')!r})")
    if problems:
        raise InvalidCocoError(source, problems)

    annotations = []
    for ann in annotation_entries.values():
        image = images.get(ann["image_id"])
        if image is None:
            problems.append(f"annotation {ann['id']} refers to unknown image {ann['image_id']}")
            continue
        if ann["category_id"] not in categories:
            problems.append(f"annotation {ann['id']} has unknown category {ann['category_id']}")
            continue
        seg = ann["segmentation"]
        if (
            isinstance(seg, dict)
            and isinstance(seg.get("size"), list)
            and seg["size"] != [image["height"], image["width"]]
        ):
            problems.append(
                f"annotation {ann['id']}: mask size {seg['size']} does not match image "
                f"{image['id']} ({image['height']} x {image['width']})"
            )
            continue
        try:
            rle = segmentation_to_rle(seg, image["height"], image["width"])
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"annotation {ann['id']}: bad segmentation ({exc})")
            continue
        annotations.append({**ann, "segmentation": rle})

    label_ids = Counter()
    for n, lab in enumerate(data.get("image_labels", [])):
        if not isinstance(lab, dict):
            problems.append(f"image label #{n} is not an object")
            continue
        if is_int(lab.get("id")):
            label_ids[lab["id"]] += 1
        name = f"image label {lab['id']}" if is_int(lab.get("id")) else f"image label #{n}"
        for problem in (_id_problem(lab.get("id")), _id_problem(lab.get("image_id"), "image_id")):
            if problem:
                problems.append(f"{name}: {problem}")
        if is_int(lab.get("image_id")) and lab.get("image_id") not in images:
            problems.append(f"image label {lab.get('id')} refers to unknown image {lab.get('image_id')}")
        if lab.get("category_id") is not None and (
            not is_int(lab["category_id"]) or lab["category_id"] not in categories
        ):
            problems.append(f"image label {lab.get('id')} has unknown category {lab['category_id']!r}")
        if "raw_label" in lab and not isinstance(lab["raw_label"], str):
            problems.append(f"{name}: raw_label must be a string, not {_json_type(lab['raw_label'])}")
        if "count" in lab and not (is_int(lab["count"]) and 0 <= lab["count"] <= 1000):
            problems.append(f"{name}: count {lab['count']!r} is not an integer from 0 to 1000")
    problems += [f"duplicate image label id {i}" for i, c in label_ids.items() if c > 1]
    if problems:
        raise InvalidCocoError(source, problems)
    return {**data, "annotations": annotations}


def _check_entries(entries: list, kind: str, keys: tuple[str, ...], problems: list[str], check) -> dict:
    """The entries of one list by id; those with any problem are reported and left out."""
    ids = Counter()
    valid = {}
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"{kind} #{n} is not an object")
            continue
        missing = [k for k in keys if k not in entry]
        if missing:
            problems.append(f"{kind} #{n} (id {entry.get('id')}) lacks {', '.join(missing)}")
            continue
        found = check(entry)
        if found:
            name = f"{kind} {entry['id']}" if is_int(entry["id"]) else f"{kind} #{n}"
            problems.extend(f"{name}: {p}" for p in found)
            continue
        ids[entry["id"]] += 1
        valid[entry["id"]] = entry
    for dup, count in ids.items():
        if count > 1:
            problems.append(f"duplicate {kind} id {dup} ({count} times)")
    return valid


def _duplicates(problems: list[str], what: str, values: dict, owners: str) -> None:
    seen: dict = {}
    for key, value in values.items():
        seen.setdefault(value, []).append(key)
    for value, keys in seen.items():
        if len(keys) > 1:
            problems.append(f"duplicate {what} {value!r} ({owners} {', '.join(map(str, keys))})")


def _image_problems(image: dict, max_pixels: int) -> list[str]:
    found = [p for p in (_id_problem(image["id"]), file_name_problem(image["file_name"])) if p]
    height, width = image["height"], image["width"]
    sizes_ok = True
    for key, value in (("height", height), ("width", width)):
        if not (is_int(value) and value >= 1):
            found.append(f"{key} {value!r} is not a positive integer")
            sizes_ok = False
    if sizes_ok and height * width > max_pixels:
        found.append(f"{width} x {height} pixels is over the limit of {max_pixels / 1e6:g} megapixels")
    if image.get("split") is not None and not isinstance(image["split"], str):
        found.append(f"split must be a string or null, not {_json_type(image['split'])}")
    if "reviewed" in image and not isinstance(image["reviewed"], bool):
        found.append(f"reviewed must be true or false, not {image['reviewed']!r}")
    return found


def _category_problems(category: dict) -> list[str]:
    found = [p for p in (_id_problem(category["id"]),) if p]
    if not isinstance(category["name"], str) or not category["name"].strip():
        found.append(f"name must be a non-empty string, not {category['name']!r}")
    if not isinstance(category.get("supercategory", ""), str):
        found.append(f"supercategory must be a string, not {_json_type(category['supercategory'])}")
    return found


def _annotation_problems(ann: dict) -> list[str]:
    found = [
        p
        for p in (
            _id_problem(ann["id"]),
            _id_problem(ann["image_id"], "image_id"),
            _id_problem(ann["category_id"], "category_id"),
        )
        if p
    ]
    if "iscrowd" in ann and ann["iscrowd"] not in (0, 1):
        found.append(f"iscrowd must be 0 or 1, not {ann['iscrowd']!r}")
    score = ann.get("score")
    if score is not None and not (isinstance(score, int | float) and not isinstance(score, bool) and 0 <= score <= 1):
        found.append(f"score must be a number from 0 to 1, not {score!r}")
    for key in ("origin", "author", "created_at"):
        if key in ann and not isinstance(ann[key], str):
            found.append(f"{key} must be a string, not {_json_type(ann[key])}")
    return found


def annotations_by_image(coco: dict) -> dict[int, list[dict]]:
    """Image id -> its annotations, in file order (images without any are absent)."""
    grouped: dict[int, list[dict]] = {}
    for ann in coco.get("annotations", []):
        grouped.setdefault(ann["image_id"], []).append(ann)
    return grouped


def write_coco(data: dict, path: str | Path) -> None:
    """Write a COCO document atomically (a crash never leaves half a file)."""
    write_text_atomic(path, dumps_coco(data))


def dumps_coco(data: dict) -> str:
    """Canonical JSON text: sorted keys, fixed separators, trailing newline."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
