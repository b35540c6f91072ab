"""Clothing Co-Parsing (CCP) -> COCO files in the 11-class vocabulary.

CCP's pixel-level annotations are semantic label maps (one label per pixel, no
instance ids), so instances are made with these rules:

1. Each CCP label is mapped to a FashionSeg class with the editable mapping
   (``fashionseg/data/mappings/ccp.yaml``); a class's mask is the union of the
   pixels of every label mapped to it.
2. The mask is split into 8-connected components; components under
   ``min_area`` pixels (default 100, 0.02 % of a 550 x 825 photo) are
   annotation specks and are dropped (and counted).
3. Countable classes (``shoe``, ``bag, wallet``): every remaining component is
   an instance, except fragments under 20 % of the class's largest component,
   which are joined to the nearest large component (a shoe cut in two by a
   strap labelled otherwise is one shoe). When a pair of shoes touch and form
   one component, it is split in two if its distance transform has two clear
   cores (two touching blobs) and both halves hold at least 25 % of its pixels;
   each pixel goes to the nearer core. A single elongated shoe has one core and
   stays whole. Known weak cases, seen on CCP: tall boots whose cores sit high
   up, and one shoe partly hiding the other, can be cut off the true boundary.
4. Every other class (garments worn once: a jacket cut in two by a bag strap is
   one jacket): all remaining components form one instance.
5. Holes stay holes: pixels inside a garment that carry another label (a hand,
   a belt) are not part of its mask. COCO RLE represents them exactly.

The garment mask for the U-Net cutout is every labelled pixel except ``null``,
``skin`` and ``hair``. The image-level tags become image-level labels (with the
raw tag kept) in ``client.json``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from scipy import ndimage
from scipy.io.matlab import MatReadError
from tqdm import tqdm

from fashionseg.core.coco import write_coco
from fashionseg.core.images import read_image_size
from fashionseg.core.mapping import LabelMapping, load_mapping
from fashionseg.core.masks import encode_rle, mask_bbox
from fashionseg.core.split import DEFAULT_SALT, DEFAULT_VAL_FRACTION, assign_split
from fashionseg.core.vocabulary import CCP59, FASHIONSEG11
from fashionseg.exceptions import CCPFormatError, ImageLoadError

log = logging.getLogger(__name__)

DEFAULT_MIN_AREA = 100
COUNTABLE_CLASSES = ("shoe", "bag, wallet")
PAIR_CLASSES = ("shoe",)
FRAGMENT_RATIO = 0.2
PAIR_MIN_SHARE = 0.25
NOT_GARMENT = ("null", "skin", "hair")
GARMENT_CATEGORY = {"id": 1, "name": "garment", "supercategory": "garment"}


@dataclass
class Instance:
    class_name: str
    mask: np.ndarray


@dataclass
class ConversionReport:
    images: Counter = field(default_factory=Counter)  # kind -> count
    splits: Counter = field(default_factory=Counter)
    instances: Counter = field(default_factory=Counter)  # class -> count
    image_labels: Counter = field(default_factory=Counter)  # class -> objects
    dropped_labels: Counter = field(default_factory=Counter)  # CCP label -> photos/tags dropped
    small_components: int = 0
    split_pairs: int = 0
    skipped: list = field(default_factory=list)  # (photo id, reason)

    def as_dict(self) -> dict:
        return {
            "images": dict(self.images),
            "splits": dict(self.splits),
            "instances": dict(self.instances),
            "image_labels": dict(self.image_labels),
            "dropped_labels": dict(sorted(self.dropped_labels.items())),
            "small_components_dropped": self.small_components,
            "touching_pairs_split": self.split_pairs,
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
        }


def read_label_names(root: Path) -> list[str]:
    """CCP's label names from ``label_list.mat``, checked against our ``ccp59`` vocabulary."""
    path = root / "label_list.mat"
    try:
        cells = scipy.io.loadmat(path)["label_list"].ravel()
        names = [str(np.asarray(c).ravel()[0]) for c in cells]
    except (OSError, KeyError, ValueError, IndexError, MatReadError) as exc:
        raise CCPFormatError(f"{path}: cannot read the label list ({exc})") from None
    if names != list(CCP59.names):
        raise CCPFormatError(f"{path}: labels differ from CCP's 59 labels in fashionseg/data/vocabularies.yaml")
    return names


def read_label_map(path: Path) -> np.ndarray:
    """A pixel-level annotation: ``(H, W)`` uint8 CCP label ids."""
    try:
        label_map = scipy.io.loadmat(path)["groundtruth"]
    except (OSError, KeyError, ValueError, MatReadError) as exc:
        raise CCPFormatError(f"{path}: not a CCP pixel-level file ({exc})") from None
    if label_map.ndim != 2 or label_map.max(initial=0) >= len(CCP59):
        raise CCPFormatError(f"{path}: 'groundtruth' is not a 2-D map of label ids 0-58")
    return label_map


def read_tags(path: Path) -> list[int]:
    """An image-level annotation: the CCP label ids present in the photo."""
    try:
        tags = scipy.io.loadmat(path)["tags"].ravel().astype(int).tolist()
    except (OSError, KeyError, ValueError, MatReadError) as exc:
        raise CCPFormatError(f"{path}: not a CCP image-level file ({exc})") from None
    if any(t < 0 or t >= len(CCP59) for t in tags):
        raise CCPFormatError(f"{path}: tags outside label ids 0-58")
    return tags


def class_masks(label_map: np.ndarray, mapping: LabelMapping) -> dict[str, np.ndarray]:
    """Class name -> boolean mask of every pixel whose CCP label maps to it."""
    lookup: dict[str, list[int]] = {}
    for label_id, label in enumerate(CCP59.names):
        for class_name in set(mapping.classes_for(label)):
            lookup.setdefault(class_name, []).append(label_id)
    present = set(np.unique(label_map).tolist())
    masks = {}
    for class_name in FASHIONSEG11.names:  # fixed order, so output order is stable
        ids = [i for i in lookup.get(class_name, []) if i in present]
        if ids:
            masks[class_name] = np.isin(label_map, ids)
    return masks


def garment_mask(label_map: np.ndarray) -> np.ndarray:
    not_garment = [CCP59.id_of(n) for n in NOT_GARMENT]
    return ~np.isin(label_map, not_garment)


def instances_from_label_map(
    label_map: np.ndarray,
    mapping: LabelMapping,
    min_area: int = DEFAULT_MIN_AREA,
    report: ConversionReport | None = None,
) -> list[Instance]:
    """Instances of the 11 classes in a CCP label map, by the rules in this module's docstring."""
    report = report if report is not None else ConversionReport()
    instances = []
    for class_name, mask in class_masks(label_map, mapping).items():
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        areas = stats[:, cv2.CC_STAT_AREA]
        kept = [k for k in range(1, n) if areas[k] >= min_area]
        report.small_components += (n - 1) - len(kept)
        if not kept:
            continue
        if class_name not in COUNTABLE_CLASSES:
            instances.append(Instance(class_name, np.isin(labels, kept)))
            continue
        parts = _countable_parts(labels, areas, kept)
        if class_name in PAIR_CLASSES and len(parts) == 1:
            parts = split_touching_pair(parts[0])
            report.split_pairs += len(parts) == 2
        instances.extend(Instance(class_name, part) for part in parts)
    return instances


def _countable_parts(labels: np.ndarray, areas: np.ndarray, kept: list[int]) -> list[np.ndarray]:
    largest = max(areas[k] for k in kept)
    main = [k for k in kept if areas[k] >= FRAGMENT_RATIO * largest]
    fragments = [k for k in kept if k not in main]
    if fragments:
        main_labels = np.where(np.isin(labels, main), labels, 0)
        # Each fragment pixel joins the component of its nearest main-component pixel.
        _, (rows, cols) = ndimage.distance_transform_edt(main_labels == 0, return_indices=True)
        nearest = main_labels[rows, cols]
        in_fragment = np.isin(labels, fragments)
        labels = np.where(in_fragment, nearest, labels)
    return [labels == k for k in main]


def split_touching_pair(mask: np.ndarray, min_share: float = PAIR_MIN_SHARE) -> list[np.ndarray]:
    """Split one component made of two touching blobs (a pair of shoes) into two masks.

    Returns ``[mask]`` unchanged when the component does not have two clear
    cores or when one half would hold under ``min_share`` of its pixels.
    """
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    peak = float(dist.max())
    if peak <= 1.0:
        return [mask]
    total = int(mask.sum())
    for level in (0.4, 0.55, 0.7):
        n, cores = cv2.connectedComponents((dist >= level * peak).astype(np.uint8), connectivity=8)
        if n - 1 != 2:
            continue
        _, (rows, cols) = ndimage.distance_transform_edt(cores == 0, return_indices=True)
        nearest = cores[rows, cols]
        halves = [mask & (nearest == 1), mask & (nearest == 2)]
        if min(int(h.sum()) for h in halves) >= min_share * total:
            return halves
    return [mask]


def read_ids_file(path: str | Path) -> set[int]:
    """Photo ids, one integer per line; blank lines and ``#`` comments are ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CCPFormatError(f"{path}: no such ids file") from None
    except UnicodeDecodeError as exc:
        raise CCPFormatError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "expected one photo id per line"
        ) from None
    except OSError as exc:
        raise CCPFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    ids = set()
    for n, line in enumerate(text.splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            ids.add(int(text))
        except ValueError:
            raise CCPFormatError(f"{path}, line {n}: {text!r} is not a photo id (one integer per line)") from None
    return ids


def _photo_size(path: Path) -> tuple[int, int]:
    return read_image_size(path)  # the header only; over the pixel limit or unreadable: skipped


def _image_entry(photo_id: int, photos: Path, val_fraction: float, salt: str) -> dict:
    file_name = f"{photo_id:04d}.jpg"
    height, width = _photo_size(photos / file_name)
    return {
        "id": photo_id,
        "file_name": file_name,
        "height": height,
        "width": width,
        "split": assign_split(file_name, val_fraction, salt),
    }


def _annotation_ids(root: Path, kind: str) -> dict[int, Path]:
    folder = root / "annotations" / kind
    if not folder.is_dir():
        raise CCPFormatError(f"{root}: no annotations/{kind} folder; expected CCP's layout")
    out = {}
    for path in sorted(folder.glob("*.mat")):
        if path.stem.isdigit():
            out[int(path.stem)] = path
    return out


def convert_ccp(
    root: str | Path,
    out: str | Path,
    ids: set[int] | None = None,
    min_area: int = DEFAULT_MIN_AREA,
    mapping: LabelMapping | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    salt: str = DEFAULT_SALT,
    progress: bool = True,
) -> ConversionReport:
    """Write ``instances.json``, ``garment.json`` and ``client.json`` for a CCP folder into ``out``."""
    root, out = Path(root), Path(out)
    photos = root / "photos"
    if not photos.is_dir():
        raise CCPFormatError(
            f"{root}: no photos/ folder; expected CCP's layout (photos/, annotations/, label_list.mat)"
        )
    read_label_names(root)
    mapping = mapping or load_mapping("ccp")
    pixel_files = _annotation_ids(root, "pixel-level")
    tag_files = _annotation_ids(root, "image-level")
    if ids is not None:
        unknown = sorted(ids - set(pixel_files) - set(tag_files))
        if unknown:
            log.warning("%d listed ids have no CCP annotation, e.g. %s", len(unknown), unknown[:5])
        pixel_files = {i: p for i, p in pixel_files.items() if i in ids}
        tag_files = {i: p for i, p in tag_files.items() if i in ids}

    report = ConversionReport()
    provenance = {
        "converter": "fashionseg convert ccp",
        "source": str(root),
        "mapping": mapping.to_dict(),
        "min_area": min_area,
        "split": {"rule": "sha256(salt:file_name)", "salt": salt, "val_fraction": val_fraction},
    }
    images, annotations, garments = _convert_pixel_level(
        pixel_files, photos, mapping, min_area, val_fraction, salt, report, progress
    )
    client_images, image_labels = _convert_image_level(tag_files, photos, mapping, val_fraction, salt, report, progress)

    summary = report.as_dict()
    categories = FASHIONSEG11.coco_categories()
    write_coco(
        {
            "images": images,
            "annotations": annotations,
            "categories": categories,
            "fashionseg": {**provenance, "report": summary},
        },
        out / "instances.json",
    )
    write_coco(
        {
            "images": images,
            "annotations": garments,
            "categories": [GARMENT_CATEGORY],
            "fashionseg": {**provenance, "garment_excludes": list(NOT_GARMENT)},
        },
        out / "garment.json",
    )
    write_coco(
        {
            "images": client_images,
            "annotations": [],
            "categories": categories,
            "image_labels": image_labels,
            "fashionseg": {**provenance, "report": summary},
        },
        out / "client.json",
    )
    return report


def _read_annotated_photos(files, reader, photos, val_fraction, salt, report, desc, progress):
    """Yield ``(photo_id, image entry, annotation)`` per readable photo; skipped ones go in the report."""
    for photo_id, path in tqdm(files.items(), desc=desc, unit="photo", disable=not progress):
        try:
            image = _image_entry(photo_id, photos, val_fraction, salt)
            annotation = reader(path)
        except (OSError, CCPFormatError, ImageLoadError) as exc:
            report.skipped.append((photo_id, str(exc)))
            continue
        yield photo_id, image, annotation


def _convert_pixel_level(files, photos, mapping, min_area, val_fraction, salt, report, progress):
    images, annotations, garments = [], [], []
    for photo_id, image, label_map in _read_annotated_photos(
        files, read_label_map, photos, val_fraction, salt, report, "CCP pixel-level", progress
    ):
        if label_map.shape != (image["height"], image["width"]):
            report.skipped.append(
                (photo_id, f"label map {label_map.shape} does not match photo {image['height']} x {image['width']}")
            )
            continue
        images.append(image)
        report.images["pixel-level"] += 1
        report.splits[image["split"]] += 1
        for label_id in np.unique(label_map).tolist():
            if not mapping.classes_for(CCP59.names[label_id]):
                report.dropped_labels[CCP59.names[label_id]] += 1
        for inst in instances_from_label_map(label_map, mapping, min_area, report):
            annotations.append(
                _annotation(len(annotations) + 1, photo_id, FASHIONSEG11.id_of(inst.class_name), inst.mask)
            )
            report.instances[inst.class_name] += 1
        garments.append(_annotation(len(garments) + 1, photo_id, GARMENT_CATEGORY["id"], garment_mask(label_map)))
    return images, annotations, garments


def _convert_image_level(files, photos, mapping, val_fraction, salt, report, progress):
    images, labels = [], []
    for photo_id, image, tags in _read_annotated_photos(
        files, read_tags, photos, val_fraction, salt, report, "CCP image-level", progress
    ):
        images.append(image)
        report.images["image-level"] += 1
        for tag in sorted(set(tags)):
            raw = CCP59.names[tag]
            for class_name, count in mapping.label_counts(raw):
                category_id = None if class_name is None else FASHIONSEG11.id_of(class_name)
                labels.append(
                    {
                        "id": len(labels) + 1,
                        "image_id": photo_id,
                        "category_id": category_id,
                        "raw_label": raw,
                        "count": count,
                    }
                )
                if class_name is None:
                    report.dropped_labels[raw] += 1
                else:
                    report.image_labels[class_name] += count
    return images, labels


def _annotation(ann_id: int, image_id: int, category_id: int, mask: np.ndarray) -> dict:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": encode_rle(mask),
        "area": int(mask.sum()),
        "bbox": mask_bbox(mask),
        "iscrowd": 0,
    }
