"""COCO import into and export out of the annotation store.

Import validates everything first (the document, every image file, every
mask) and writes in one transaction, so a bad file imports nothing. Export is
canonical (sorted keys, ids in order), so export -> import -> export gives the
same bytes, and masks round-trip exactly as compressed RLE.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select
from tqdm import tqdm

from fashionseg.core.coco import read_coco, validate_coco
from fashionseg.core.images import DEFAULT_MAX_PIXELS, read_image_size
from fashionseg.core.mapping import LabelMapping
from fashionseg.core.masks import rle_area, rle_bbox
from fashionseg.exceptions import ImageLoadError, InvalidCocoError, MappingError, StoreError
from fashionseg.store import schema as t
from fashionseg.store.store import AnnotationStore, now

PASSTHROUGH_KEYS = ("info", "licenses")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_image_files(
    images: list[dict],
    image_dir: Path,
    progress: bool,
    max_pixels: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[dict, list[str]]:
    hashes, problems = {}, []
    for n, im in enumerate(tqdm(images, desc="checking images", unit="image", disable=not progress)):
        if on_progress is not None:
            on_progress(n, len(images))
        path = image_dir / im["file_name"]
        if not path.is_file():
            problems.append(f"image {im['id']}: file {path} not found")
            continue
        try:
            height, width = read_image_size(path, max_pixels=max_pixels)
            digest = _sha256(path)
        except ImageLoadError as exc:
            problems.append(f"image {im['id']}: {exc}")
            continue
        except OSError as exc:
            problems.append(f"image {im['id']}: {path} cannot be read ({exc.strerror or exc})")
            continue
        if (width, height) != (im["width"], im["height"]):
            problems.append(
                f"image {im['id']}: file is {width} x {height}, the document says {im['width']} x {im['height']}"
            )
            continue
        hashes[im["id"]] = digest
    return hashes, problems


@dataclass(frozen=True)
class PreparedImport:
    """A COCO document and its image folder, checked and ready to write (:func:`prepare_import`)."""

    data: dict
    source: str
    image_dir: Path
    hashes: dict  # image id -> sha256 of its file
    mapping: dict | None
    dataset: str
    origin: str
    author: str


def prepare_import(
    coco: dict | str | Path,
    image_dir: str | Path,
    dataset: str,
    *,
    origin: str = "ground_truth",
    author: str = "import",
    progress: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    store: AnnotationStore | None = None,
    source: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PreparedImport:
    """Check everything an import needs, writing nothing: the document (see
    :func:`fashionseg.core.coco.validate_coco`), and every image file (present, a
    readable image of at most ``max_pixels``, of the declared size). With
    ``store``, also that the data set name is free there. ``source`` names
    a document given as a dict in messages (an uploaded file's name).
    ``on_progress(checked, total)`` is called before each image file is checked (the app's progress bar).

    Raises:
        InvalidCocoError: anything wrong in the document or the image folder; lists every problem.
        StoreError: the data set name is taken or unusable, the author or origin is wrong.
    """
    source = source or (str(coco) if not isinstance(coco, dict) else f"COCO document for {dataset!r}")
    data = read_coco(coco) if not isinstance(coco, dict) else coco
    data = validate_coco(data, source, max_pixels=max_pixels)
    if origin not in t.ORIGINS:
        raise StoreError(f"origin must be one of {t.ORIGINS}")
    if not isinstance(dataset, str) or not dataset.strip() or len(dataset) > 200:
        raise StoreError(f"a data set name is 1 to 200 characters, not {dataset!r}")
    if not isinstance(author, str) or not author.strip():
        raise StoreError("an author name is required for every change")
    if store is not None and dataset in store.datasets():
        raise StoreError(_name_taken(dataset))
    image_dir = Path(image_dir).resolve()
    if not image_dir.is_dir():
        raise InvalidCocoError(source, [f"image folder {image_dir} not found"])
    problems = []
    for ann in data["annotations"]:
        if ann.get("origin", origin) not in t.ORIGINS:
            problems.append(f"annotation {ann['id']}: origin {ann['origin']!r} is not one of {t.ORIGINS}")
    hashes, file_problems = _check_image_files(data["images"], image_dir, progress, max_pixels, on_progress)
    problems += file_problems
    extension = data.get("fashionseg", {})
    mapping = extension.get("label_mapping", extension.get("mapping"))
    if mapping is not None:
        try:
            LabelMapping.from_dict(mapping)
        except MappingError as exc:
            problems.append(f"label mapping: {exc}")
    if problems:
        raise InvalidCocoError(source, problems)
    return PreparedImport(data, source, image_dir, hashes, mapping, dataset, origin, author)


def _name_taken(dataset: str) -> str:
    return f"a data set named {dataset!r} exists already; pick another name"


def import_coco(
    store: AnnotationStore,
    coco: dict | str | Path,
    image_dir: str | Path,
    dataset: str,
    *,
    origin: str = "ground_truth",
    author: str = "import",
    progress: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    source: str | None = None,
) -> int:
    """Import a COCO document (or file) and its image folder as a new data set; returns its id.

    Everything is checked (:func:`prepare_import`) before anything is
    written, and the writing is one transaction: a bad file imports nothing.
    """
    prepared = prepare_import(
        coco,
        image_dir,
        dataset,
        origin=origin,
        author=author,
        progress=progress,
        max_pixels=max_pixels,
        store=store,
        source=source,
    )
    return write_import(store, prepared)


def write_import(store: AnnotationStore, prepared: PreparedImport) -> int:
    """Write a checked import as a new data set of ``store`` in one transaction; returns its id."""
    data, dataset, origin, author, mapping = (
        prepared.data,
        prepared.dataset,
        prepared.origin,
        prepared.author,
        prepared.mapping,
    )
    hashes = prepared.hashes
    stamp = now()
    info = {k: data[k] for k in PASSTHROUGH_KEYS if k in data}
    info["fashionseg"] = {k: v for k, v in data.get("fashionseg", {}).items() if k not in ("label_mapping", "dataset")}
    with store.writing() as c:
        # Checked again inside the transaction: another import may have taken the name meanwhile.
        if c.scalar(select(t.datasets.c.id).where(t.datasets.c.name == dataset)) is not None:
            raise StoreError(_name_taken(dataset))
        ds = c.execute(
            insert(t.datasets).values(
                name=dataset,
                image_root=str(prepared.image_dir),
                info=json.dumps(info, sort_keys=True),
                created_at=stamp,
            )
        ).inserted_primary_key[0]
        c.execute(
            insert(t.categories),
            [
                {
                    "dataset_id": ds,
                    "coco_id": cat["id"],
                    "name": cat["name"],
                    "supercategory": cat.get("supercategory", ""),
                }
                for cat in data["categories"]
            ],
        )
        category_rows = {
            r.coco_id: r.id
            for r in c.execute(select(t.categories.c.coco_id, t.categories.c.id).where(t.categories.c.dataset_id == ds))
        }
        if data["images"]:
            c.execute(
                insert(t.images),
                [
                    {
                        "dataset_id": ds,
                        "coco_id": im["id"],
                        "file_name": im["file_name"],
                        "sha256": hashes[im["id"]],
                        "width": int(im["width"]),
                        "height": int(im["height"]),
                        "split": im.get("split"),
                        "revision": 0,
                        "reviewed": bool(im.get("reviewed", False)),
                    }
                    for im in data["images"]
                ],
            )
        image_rows = {
            r.coco_id: r.id
            for r in c.execute(select(t.images.c.coco_id, t.images.c.id).where(t.images.c.dataset_id == ds))
        }
        if data["annotations"]:
            c.execute(
                insert(t.annotations),
                [
                    {
                        "dataset_id": ds,
                        "image_id": image_rows[a["image_id"]],
                        "coco_id": a["id"],
                        "category_id": category_rows[a["category_id"]],
                        "rle_counts": a["segmentation"]["counts"],
                        "bbox": json.dumps(rle_bbox(a["segmentation"])),
                        "area": rle_area(a["segmentation"]),
                        "iscrowd": int(a.get("iscrowd", 0)),
                        "origin": a.get("origin", origin),
                        "author": a.get("author", author),
                        "created_at": a.get("created_at", stamp),
                        "score": a.get("score"),
                    }
                    for a in data["annotations"]
                ],
            )
        labels = data.get("image_labels", [])
        if labels:
            c.execute(
                insert(t.image_labels),
                [
                    {
                        "dataset_id": ds,
                        "image_id": image_rows[x["image_id"]],
                        "coco_id": x["id"],
                        "raw_label": str(x.get("raw_label", "")),
                        "category_id": None if x.get("category_id") is None else category_rows[x["category_id"]],
                        "count": int(x.get("count", 1)),
                    }
                    for x in labels
                ],
            )
        if mapping is not None:
            c.execute(
                insert(t.label_mappings).values(
                    dataset_id=ds, mapping=json.dumps(mapping, sort_keys=True), revision=1, updated_at=stamp
                )
            )
        c.execute(
            insert(t.history).values(
                dataset_id=ds,
                action="import",
                author=author,
                at=stamp,
                after=json.dumps(
                    {
                        "source": prepared.source,
                        "images": len(data["images"]),
                        "annotations": len(data["annotations"]),
                        "image_labels": len(labels),
                    }
                ),
            )
        )
    return ds


def export_coco(store: AnnotationStore, dataset: str) -> dict:
    """The data set as a COCO document (with ``image_labels`` and a ``fashionseg`` section)."""
    ds = store.dataset_id(dataset)
    with store.reading() as c:
        info = json.loads(c.scalar(select(t.datasets.c.info).where(t.datasets.c.id == ds)))
        mapping = c.scalar(select(t.label_mappings.c.mapping).where(t.label_mappings.c.dataset_id == ds))
        categories = c.execute(
            select(t.categories).where(t.categories.c.dataset_id == ds).order_by(t.categories.c.coco_id)
        ).all()
        category_coco = {r.id: r.coco_id for r in categories}
        images = c.execute(select(t.images).where(t.images.c.dataset_id == ds).order_by(t.images.c.coco_id)).all()
        image_coco = {r.id: r for r in images}
        annotations = c.execute(
            select(t.annotations).where(t.annotations.c.dataset_id == ds).order_by(t.annotations.c.coco_id)
        ).all()
        labels = c.execute(
            select(t.image_labels).where(t.image_labels.c.dataset_id == ds).order_by(t.image_labels.c.coco_id)
        ).all()

    out = {k: info[k] for k in PASSTHROUGH_KEYS if k in info}
    out["categories"] = [{"id": r.coco_id, "name": r.name, "supercategory": r.supercategory} for r in categories]
    out["images"] = []
    for r in images:
        entry = {
            "id": r.coco_id,
            "file_name": r.file_name,
            "height": r.height,
            "width": r.width,
            "sha256": r.sha256,
            "reviewed": bool(r.reviewed),
        }
        if r.split is not None:
            entry["split"] = r.split
        out["images"].append(entry)
    out["annotations"] = []
    for a in annotations:
        im = image_coco[a.image_id]
        entry = {
            "id": a.coco_id,
            "image_id": im.coco_id,
            "category_id": category_coco[a.category_id],
            "segmentation": {"size": [im.height, im.width], "counts": a.rle_counts},
            "area": a.area,
            "bbox": json.loads(a.bbox),
            "iscrowd": a.iscrowd,
            "origin": a.origin,
            "author": a.author,
            "created_at": a.created_at,
        }
        if a.score is not None:
            entry["score"] = a.score
        out["annotations"].append(entry)
    if labels:
        out["image_labels"] = [
            {
                "id": x.coco_id,
                "image_id": image_coco[x.image_id].coco_id,
                "raw_label": x.raw_label,
                "category_id": None if x.category_id is None else category_coco[x.category_id],
                "count": x.count,
            }
            for x in labels
        ]
    extension = dict(info.get("fashionseg", {}))
    extension["dataset"] = dataset
    if mapping is not None:
        extension["label_mapping"] = json.loads(mapping)
    out["fashionseg"] = extension
    return out
