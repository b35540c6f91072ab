"""The deterministic train/validation split.

An image's split depends only on a stable key (its file name) and a salt, via
SHA-256, never on which other images are present or on their order: adding or
removing photos leaves every other photo where it was, and the same photo is in
the same split on every machine. With the defaults, about 20 % of the photos are
``val``.

Example:
    >>> from fashionseg.core.split import assign_split
    >>> [assign_split(f"{i:04d}.jpg") for i in (1, 2, 7)]
    ['val', 'train', 'val']
"""

from __future__ import annotations

import hashlib

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


def select_split(coco: dict, split: str) -> dict:
    """A copy of a COCO document with only the images (and their annotations and
    image-level labels) of one split, as written by ``fashionseg convert``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    images = [im for im in coco["images"] if im.get("split") == split]
    keep = {im["id"] for im in images}
    out = dict(coco)
    out["images"] = images
    out["annotations"] = [a for a in coco.get("annotations", []) if a["image_id"] in keep]
    if "image_labels" in coco:
        out["image_labels"] = [lab for lab in coco["image_labels"] if lab["image_id"] in keep]
    return out
