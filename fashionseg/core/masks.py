"""Binary masks, COCO run-length encoding (via pycocotools) and boxes.

All masks are boolean ``(H, W)`` arrays; all RLEs are COCO's compressed form
``{"size": [H, W], "counts": str}``, the form our COCO files and store hold.

pycocotools trusts its input: runs past the image end write out of bounds,
a malformed counts string reads past its end, and a polygon point at 1e30
overflows an int (a segmentation fault, or all the memory). So every
segmentation from outside goes through :func:`check_rle` or
:func:`check_polygons` (both inside :func:`segmentation_to_rle`) first.

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


# A polygon point may lie outside the image (annotation tools overshoot), but not by more than
# the image's own size; and its boundary may wind around the image, but not without end:
# pycocotools allocates 5 points per pixel of boundary.
POLYGON_MARGIN = 1.0
MAX_BOUNDARY_FACTOR = 100
_UINT32 = 2**32


def is_int(value) -> bool:
    """A whole number as JSON gives one: an ``int``, not a ``bool`` (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def compressed_counts(counts: str) -> np.ndarray:
    """The run lengths of COCO's compressed ``counts`` string (pycocotools' ``rleFrString``), checked.

    Raises:
        ValueError: characters outside the format, a value cut off at the end, or a
            run length that is negative or over 2**32 (pycocotools would wrap it).
    """
    try:
        codes = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError:
        raise ValueError("RLE counts must be ASCII") from None
    if codes.size == 0:
        return np.zeros(0, np.int64)
    if codes.min() < 0 or codes.max() > 63:
        raise ValueError("RLE counts holds characters outside COCO's compressed format")
    more = (codes & 0x20) != 0
    if more[-1]:
        raise ValueError("RLE counts ends in the middle of a value")
    ends = np.flatnonzero(~more)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 7:  # 7 groups of 5 bits hold any 32-bit run or difference
        raise ValueError("RLE counts holds a value too long for a run length")
    position = np.arange(codes.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((codes & 0x1F) << (5 * position), starts)
    negative = (codes[ends] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * lengths)), values)
    # From the fourth value on, each is stored as the difference to the one two places back.
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    if runs.min() < 0 or runs.max() >= _UINT32:
        raise ValueError("RLE counts decodes to a negative or impossible run length")
    return runs


def check_rle(rle, height: int, width: int) -> None:
    """Raise ``ValueError`` unless ``rle`` is a COCO RLE (compressed or not) that covers exactly ``height`` x ``width`` pixels."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError("an RLE needs 'size' and 'counts'")
    size, counts = rle["size"], rle["counts"]
    if not isinstance(size, list | tuple) or len(size) != 2 or not all(is_int(v) for v in size):
        raise ValueError(f"RLE size must be [height, width] as integers, not {size!r}")
    if list(size) != [height, width]:
        raise ValueError(f"mask size {list(size)} does not match the image ({height} x {width})")
    if isinstance(counts, str):
        runs = compressed_counts(counts)
    elif isinstance(counts, list | tuple):
        if not all(is_int(v) and 0 <= v < _UINT32 for v in counts):
            raise ValueError("uncompressed RLE counts must be non-negative integers")
        runs = np.asarray(counts, dtype=np.int64)
    else:
        raise ValueError(f"RLE counts must be a string or a list of integers, not {type(counts).__name__}")
    covered = int(runs.sum())
    if covered != height * width:
        raise ValueError(f"RLE runs cover {covered} pixels, the image has {height * width} ({height} x {width})")


def check_polygons(polygons, height: int, width: int) -> None:
    """Raise ``ValueError`` unless ``polygons`` are COCO polygons pycocotools can safely rasterise at ``height`` x ``width``."""
    if not isinstance(polygons, list) or not polygons:
        raise ValueError("polygon segmentation needs lists of at least 3 x,y points")
    boundary = 0.0
    for polygon in polygons:
        if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
            raise ValueError("polygon segmentation needs lists of at least 3 x,y points")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in polygon):
            raise ValueError("polygon coordinates must be numbers")
        try:
            xy = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        except OverflowError:
            raise ValueError("polygon coordinate too large") from None
        if not np.isfinite(xy).all():
            raise ValueError("polygon has a NaN or infinite coordinate")
        low = -POLYGON_MARGIN * np.array([width, height])
        high = (1 + POLYGON_MARGIN) * np.array([width, height])
        outside = ((xy < low) | (xy > high)).any(axis=1)
        if outside.any():
            x, y = xy[np.argmax(outside)]
            raise ValueError(f"polygon point ({x:g}, {y:g}) lies far outside the {width} x {height} image")
        boundary += float(np.abs(np.diff(xy, axis=0, append=xy[:1])).max(axis=1).sum())
    if boundary > MAX_BOUNDARY_FACTOR * (height + width):
        raise ValueError(
            f"polygon boundary is {boundary:.0f} px long, over {MAX_BOUNDARY_FACTOR} x the image's height + width"
        )


def segmentation_to_rle(segmentation, height: int, width: int) -> dict:
    """A COCO ``segmentation`` (polygons, RLE or uncompressed RLE) -> compressed ``str`` RLE.

    Raises:
        ValueError: not a segmentation, or one that does not fit the image (see :func:`check_rle`, :func:`check_polygons`).
    """
    if isinstance(segmentation, list):
        check_polygons(segmentation, height, width)
        merged = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        check_rle(segmentation, height, width)
        merged = to_compressed_rle(segmentation)
    else:
        raise ValueError("segmentation must be a polygon list or an RLE dict with 'size' and 'counts'")
    counts = merged["counts"]
    return {
        "size": [int(merged["size"][0]), int(merged["size"][1])],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def annotation_masks(annotations: list[dict], shape: tuple[int, int]) -> np.ndarray:
    """The RLE ``segmentation`` of each COCO annotation of one photo -> ``(N, H, W)`` bool (``(0, H, W)`` for none)."""
    if not annotations:
        return np.zeros((0, *shape), bool)
    return np.stack([decode_rle(a["segmentation"]) for a in annotations])


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
