"""Re-framed, re-lit and re-compressed copies of a COCO set with masks: the robustness variants.

Client photos are framed unlike CCP's: waist-up, lower body, a small person
in a wide shot, several people, dim light, heavy JPEG, a tilted camera. From
any COCO set with masks (``instances.json`` or ``garment.json``)
:func:`build_variants` writes one COCO file and one photo folder per variant
of :data:`VARIANTS`. :mod:`fashionseg.evaluation.robustness` evaluates a model
on them; the U-Net's training validates on them.

Rules, the same for every model and every run:

- Deterministic: each photo's random choices (background, placement,
  rotation sign) come from ``(seed, variant, file name)``, so a variant does
  not depend on which other photos are in the set or their order (except
  ``group``, whose companions are the next two photos by image id). A
  ``blurred_photo`` background is the photo itself, stretched and blurred.
- Masks go through the photo's own geometric transform
  (:mod:`fashionseg.core.framing`); an instance left with fewer than ``min_area``
  pixels (default 100, the converter's speck rule) in the variant is dropped.
- Photos are written as JPEG quality 95 (``jpeg_25`` and ``dark_jpeg_25`` at 25),
  as a client's camera would hand them over.

Example:
    >>> [v.name for v in VARIANTS][:4]
    ['original', 'waist_up', 'lower_body', 'wide_0.3']
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashionseg.core import framing
from fashionseg.core.coco import annotations_by_image, write_coco
from fashionseg.core.images import load_image
from fashionseg.core.masks import annotation_masks, encode_rle, mask_bbox
from fashionseg.exceptions import UsageError

log = logging.getLogger(__name__)

MIN_INSTANCE_AREA = 100  # px in the variant photo
PHOTO_QUALITY = 95
LOW_LIGHT_GAMMA = 2.2
LOW_LIGHT_NOISE = 4.0  # sensor noise, std in pixel values, after darkening
HEAVY_JPEG_QUALITY = 25
ROTATION_DEGREES = 10.0
WIDE = 16 / 9


@dataclass(frozen=True)
class Photo:
    """A photo, its instance masks ``(N, H, W)`` and their COCO category ids."""

    image: np.ndarray
    masks: np.ndarray
    category_ids: np.ndarray


Builder = Callable[[Photo, np.random.Generator, Callable[[int], Photo]], tuple[Photo, int]]


@dataclass(frozen=True)
class Variant:
    """One way of changing a photo; ``build(photo, rng, companion) -> (photo, JPEG quality)``."""

    name: str
    description: str
    build: Builder


def _same(photo: Photo, quality: int = PHOTO_QUALITY) -> tuple[Photo, int]:
    return photo, quality


def _crop_rows(start: float, stop: float) -> Builder:
    def build(photo: Photo, rng, companion) -> tuple[Photo, int]:
        h, w = photo.image.shape[:2]
        top, bottom = round(h * start), round(h * stop)
        image, masks = framing.crop(photo.image, photo.masks, top, 0, bottom - top, w)
        return Photo(image, masks, photo.category_ids), PHOTO_QUALITY

    return build


def _background_kind(rng: np.random.Generator) -> str:
    return framing.BACKGROUNDS[int(rng.integers(len(framing.BACKGROUNDS)))]


def _zoom_out(person_scale: float, aspect: float) -> Builder:
    def build(photo: Photo, rng, companion) -> tuple[Photo, int]:
        image, masks = framing.zoom_out(
            photo.image, photo.masks, person_scale, aspect, rng, _background_kind(rng), donor=photo.image
        )
        return Photo(image, masks, photo.category_ids), PHOTO_QUALITY

    return build


def _group(photo: Photo, rng, companion) -> tuple[Photo, int]:
    people = [photo, companion(1), companion(2)]
    h = photo.image.shape[0]
    image, masks = framing.side_by_side(
        [(p.image, p.masks) for p in people], (h, round(h * WIDE)), 0.8, rng, _background_kind(rng), donor=photo.image
    )
    return Photo(image, masks, np.concatenate([p.category_ids for p in people])), PHOTO_QUALITY


def _low_light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = framing.darken(image, LOW_LIGHT_GAMMA).astype(np.float32)
    return np.clip(dark + rng.normal(0.0, LOW_LIGHT_NOISE, dark.shape), 0, 255).astype(np.uint8)


def _rotate(photo: Photo, rng, companion) -> tuple[Photo, int]:
    degrees = ROTATION_DEGREES if rng.random() < 0.5 else -ROTATION_DEGREES
    fill = framing.background("extended_edges", photo.image.shape[:2], rng, photo=photo.image)
    image, masks = framing.rotate(photo.image, photo.masks, degrees, fill)
    return Photo(image, masks, photo.category_ids), PHOTO_QUALITY


VARIANTS: tuple[Variant, ...] = (
    Variant("original", "the photo as it is", lambda p, rng, c: _same(p)),
    Variant("waist_up", "top half of the photo (waist-up shot)", _crop_rows(0.0, 0.5)),
    Variant("lower_body", "bottom half of the photo", _crop_rows(0.5, 1.0)),
    Variant("wide_0.3", "person at 0.3 of the height of a 16:9 frame", _zoom_out(0.3, WIDE)),
    Variant("wide_0.5", "person at 0.5 of the height of a 16:9 frame", _zoom_out(0.5, WIDE)),
    Variant("wide_0.8", "person at 0.8 of the height of a 16:9 frame", _zoom_out(0.8, WIDE)),
    Variant("square_0.5", "person at 0.5 of the height of a square frame", _zoom_out(0.5, 1.0)),
    Variant("group", "three people side by side in a 16:9 frame, each at 0.8 of its height", _group),
    Variant(
        "low_light",
        f"gamma {LOW_LIGHT_GAMMA} and sensor noise",
        lambda p, rng, c: _same(Photo(_low_light(p.image, rng), p.masks, p.category_ids)),
    ),
    Variant("jpeg_25", f"JPEG quality {HEAVY_JPEG_QUALITY}", lambda p, rng, c: _same(p, HEAVY_JPEG_QUALITY)),
    Variant(
        "dark_jpeg_25",
        f"gamma {LOW_LIGHT_GAMMA} and JPEG quality {HEAVY_JPEG_QUALITY}",
        lambda p, rng, c: _same(
            Photo(framing.darken(p.image, LOW_LIGHT_GAMMA), p.masks, p.category_ids), HEAVY_JPEG_QUALITY
        ),
    ),
    Variant("rotate_10", f"rotated by {ROTATION_DEGREES:g} degrees either way", _rotate),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)


def variants_named(names: list[str] | None) -> list[Variant]:
    """The variants called ``names`` (all when None), in :data:`VARIANTS` order."""
    if not names:
        return list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANT_NAMES))
    if unknown:
        raise UsageError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANT_NAMES)}")
    return [v for v in VARIANTS if v.name in names]


def photo_rng(seed: int, variant: str, file_name: str) -> np.random.Generator:
    """The random generator of one photo of one variant (independent of the rest of the set)."""
    return np.random.default_rng([seed, zlib.crc32(variant.encode()), zlib.crc32(file_name.encode())])


class _PhotoSource:
    """The test set's photos with their masks, read once each and kept while variants are built."""

    def __init__(self, coco: dict, images_dir: Path):
        self.images = sorted(coco["images"], key=lambda im: im["id"])
        self.images_dir = images_dir
        self.annotations = annotations_by_image(coco)
        self.cache: dict[int, Photo] = {}

    def photo(self, index: int) -> Photo:
        index %= len(self.images)
        if index not in self.cache:
            im = self.images[index]
            image = load_image(self.images_dir / im["file_name"])
            anns = self.annotations.get(im["id"], [])
            masks = annotation_masks(anns, image.shape[:2])
            if masks.shape[1:] != image.shape[:2]:
                raise ValueError(f"{im['file_name']}: masks are {masks.shape[1:]}, the photo is {image.shape[:2]}")
            self.cache[index] = Photo(image, masks, np.array([a["category_id"] for a in anns], int))
        return self.cache[index]


def build_variants(
    coco: dict,
    images_dir: str | Path,
    out_dir: str | Path,
    variants: list[Variant] | None = None,
    seed: int = 0,
    min_area: int = MIN_INSTANCE_AREA,
    progress: bool = True,
) -> dict[str, Path]:
    """Write ``out_dir/NAME/instances.json`` and its photos for each variant; returns name -> COCO file.

    The photos of ``NAME/`` keep their ``file_name`` (as ``.jpg``) so each
    variant photo can be traced to its source; image ids are kept too.
    """
    variants = variants or list(VARIANTS)
    source = _PhotoSource(coco, Path(images_dir))
    if not source.images:
        raise ValueError("the test set has no images")
    out_dir = Path(out_dir)
    written = {}
    total = len(variants) * len(source.images)
    with tqdm(total=total, desc="building variants", unit="photo", disable=not progress) as bar:
        for variant in variants:
            folder = out_dir / variant.name
            images, annotations = [], []
            for index, im in enumerate(source.images):
                rng = photo_rng(seed, variant.name, im["file_name"])
                photo, quality = variant.build(source.photo(index), rng, lambda k, i=index: source.photo(i + k))
                keep = framing.drop_small(photo.masks, min_area)
                file_name = str(Path(im["file_name"]).with_suffix(".jpg"))
                path = folder / file_name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(framing.encode_jpeg(photo.image, quality))
                h, w = photo.image.shape[:2]
                images.append(
                    {
                        **{k: v for k, v in im.items() if k not in ("file_name", "height", "width")},
                        "file_name": file_name,
                        "height": h,
                        "width": w,
                    }
                )
                for mask, category_id in zip(photo.masks[keep], photo.category_ids[keep]):
                    annotations.append(
                        {
                            "id": len(annotations) + 1,
                            "image_id": im["id"],
                            "category_id": int(category_id),
                            "segmentation": encode_rle(mask),
                            "area": int(mask.sum()),
                            "bbox": mask_bbox(mask),
                            "iscrowd": 0,
                        }
                    )
                bar.update()
            document = {
                "images": images,
                "annotations": annotations,
                "categories": coco["categories"],
                "fashionseg": {
                    "robustness_variant": variant.name,
                    "description": variant.description,
                    "seed": seed,
                    "min_area": min_area,
                },
            }
            write_coco(document, folder / "instances.json")
            written[variant.name] = folder / "instances.json"
    return written
