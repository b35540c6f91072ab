"""The deterministic train/validation split, and the one filter that selects a split's images.

An image's split depends only on a stable key (its file name) and a salt, via
SHA-256, never on which other images are present or on their order: adding or
removing photos leaves every other photo where it was, and the same photo is in
the same split on every machine. With the defaults, about 20 % of the photos are
``val``. ``fashionseg convert`` writes each image's split into its COCO
``images`` entry; an image without one (absent or null) is in the split its file
name gives.

Example:
    >>> from fashionseg.core.split import assign_split, select_split
    >>> [assign_split(f"{i:04d}.jpg") for i in (1, 2, 7)]
    ['val', 'train', 'val']
    >>> images = [{"file_name": "0001.jpg"}, {"file_name": "0002.jpg"}, {"file_name": "0007.jpg", "split": "train"}]
    >>> [im["file_name"] for im in select_split(images, "val")]
    ['0001.jpg']
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

DEFAULT_VAL_FRACTION = 0.2
DEFAULT_SALT = "fashionseg-split-v1"
SPLITS = ("train", "val")


def assign_split(key: str, val_fraction: float = DEFAULT_VAL_FRACTION, salt: str = DEFAULT_SALT) -> str:
    """``'val'`` for about ``val_fraction`` of all keys, ``'train'`` for the rest."""
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return "val" if position < val_fraction else "train"


def split_of(image: dict) -> str:
    """A COCO image's split: its ``split`` field, else the one :func:`assign_split` gives its file name."""
    return image.get("split") or assign_split(image["file_name"])


def select_split(images: Iterable[dict], split: str | None) -> list[dict]:
    """The COCO image entries (dicts with a ``file_name``) of ``split``, in their order; all of them when None."""
    if split is None:
        return list(images)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [im for im in images if split_of(im) == split]


def select_coco_split(coco: dict, split: str | None) -> dict:
    """A COCO document with only the images of ``split`` (and their annotations and image-level
    labels); the document itself when None."""
    if split is None:
        return coco
    images = select_split(coco["images"], split)
    keep = {im["id"] for im in images}
    out = {**coco, "images": images, "annotations": [a for a in coco.get("annotations", []) if a["image_id"] in keep]}
    if "image_labels" in coco:
        out["image_labels"] = [lab for lab in coco["image_labels"] if lab["image_id"] in keep]
    return out
