"""Binary masks, COCO run-length encoding (via pycocotools) and boxes.

All masks are boolean ``(H, W)`` arrays; all RLEs are COCO's compressed form
``{"size": [H, W], "counts": str}``, the form our COCO files and store hold.

Example:
    >>> import numpy as np
    >>> m = np.zeros((4, 5), bool); m[1:3, 2:5] = True
    >>> rle = encode_rle(m)
    >>> rle["size"], bool((decode_rle(rle) == m).all()), mask_bbox(m)
    ([4, 5], True, [2.0, 1.0, 3.0, 2.0])
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict:
    """Boolean ``(H, W)`` mask -> compressed COCO RLE with a ``str`` ``counts``."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """A COCO RLE, compressed or not, -> boolean ``(H, W)`` mask."""
    return mask_utils.decode(to_compressed_rle(rle)).astype(bool)


def to_compressed_rle(rle: dict) -> dict:
    """Any COCO RLE -> the compressed form pycocotools works on (``counts`` as bytes)."""
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        return mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [height, width], "counts": counts}


def segmentation_to_rle(segmentation, height: int, width: int) -> dict:
    """A COCO ``segmentation`` (polygons, RLE or uncompressed RLE) -> compressed ``str`` RLE."""
    if isinstance(segmentation, list):
        if not segmentation or not all(isinstance(p, list) and len(p) >= 6 for p in segmentation):
            raise ValueError("polygon segmentation needs lists of at least 3 x,y points")
        merged = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        merged = to_compressed_rle(segmentation)
    else:
        raise ValueError("segmentation must be a polygon list or an RLE dict with 'size' and 'counts'")
    counts = merged["counts"]
    return {"size": [int(merged["size"][0]), int(merged["size"][1])], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def rle_area(rle: dict) -> int:
    return int(mask_utils.area(to_compressed_rle(rle)))


def rle_bbox(rle: dict) -> list[float]:
    """COCO ``[x, y, width, height]`` of an RLE."""
    return [float(v) for v in mask_utils.toBbox(to_compressed_rle(rle))]


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, width, height]`` of a boolean mask (zeros for an empty mask)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]


def mask_iou(masks_a: np.ndarray, masks_b: np.ndarray) -> np.ndarray:
    """IoU between every mask of ``(A, H, W)`` and every mask of ``(B, H, W)`` -> ``(A, B)``."""
    if len(masks_a) == 0 or len(masks_b) == 0:
        return np.zeros((len(masks_a), len(masks_b)), dtype=np.float64)
    a = np.asarray(masks_a, dtype=bool).reshape(len(masks_a), -1).astype(np.float32)
    b = np.asarray(masks_b, dtype=bool).reshape(len(masks_b), -1).astype(np.float32)
    if a.shape[1] != b.shape[1]:
        raise ValueError("masks to compare must have the same height and width")
    intersection = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1), 0.0).astype(np.float64)
