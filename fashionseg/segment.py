"""What the Segment page shows and offers for download, computed from the pipelines' results.

Kept out of ``app_pages/`` so the page only lays out widgets, and so it is tested
without a browser.

Example:
    >>> import numpy as np
    >>> board = checkerboard(4, 6, square=2)
    >>> board.shape, tuple(board[0, 0]) != tuple(board[0, 2])
    ((4, 6, 3), True)
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from fashionseg.masks import encode_rle, mask_bbox
from fashionseg.vocabulary import FASHIONSEG11

THESIS_BUDGET_SECONDS = 2.0  # the thesis' requirement per photo on a laptop CPU


def checkerboard(height: int, width: int, square: int = 16, light: int = 235, dark: int = 200) -> np.ndarray:
    """The usual grey checkerboard that shows transparency, as an RGB array."""
    rows = (np.arange(height) // square)[:, None]
    cols = (np.arange(width) // square)[None, :]
    board = np.where((rows + cols) % 2 == 0, light, dark).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


def on_checkerboard(rgba: np.ndarray) -> np.ndarray:
    """An RGBA cutout composited over a checkerboard, for display."""
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255
    board = checkerboard(*rgba.shape[:2]).astype(np.float32)
    return (rgba[:, :, :3] * alpha + board * (1 - alpha)).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def instance_rows(result) -> list[dict]:
    """One row per instance: class, score, share of the photo, box."""
    pixels = result.height * result.width
    return [{"class": inst.class_name, "score": round(inst.score, 3), "area %": round(100 * inst.area / pixels, 2),
             "box (x1, y1, x2, y2)": ", ".join(f"{v:.0f}" for v in inst.box)} for inst in result.instances]


def predictions_coco(result, file_name: str) -> str:
    """The instances of one photo as a COCO document (RLE masks, scores kept)."""
    doc = {"images": [{"id": 1, "file_name": file_name, "height": result.height, "width": result.width}],
           "annotations": result.to_coco_annotations(1), "categories": FASHIONSEG11.coco_categories()}
    return json.dumps(doc)


def escape_markdown(text: str) -> str:
    """User text (file names, labels) shown as itself in Streamlit's markdown, not as formatting or HTML."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)


def safe_stem(file_name: str) -> str:
    """A file name's stem reduced to characters safe in archive member names."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", file_name.rsplit(".", 1)[0]).strip("._")
    return stem or "photo"


def masks_zip(result, file_name: str) -> bytes:
    """Each instance's mask as a black-and-white PNG at the photo's resolution, in a zip."""
    buffer = io.BytesIO()
    stem = safe_stem(file_name)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for k, inst in enumerate(result.instances, 1):
            name = f"{stem}_{k:02d}_{safe_stem(inst.class_name)}.png"
            archive.writestr(name, png_bytes((inst.mask * 255).astype(np.uint8)))
        archive.writestr(f"{stem}_instances.json", json.dumps(
            [{"class": i.class_name, "score": i.score, "bbox": mask_bbox(i.mask), "rle": encode_rle(i.mask)} for i in result.instances]))
    return buffer.getvalue()


@dataclass
class TimingLog:
    """The seconds each photo of a session took, per pipeline, for the running average.

    Runs are keyed (photo and settings), so a page redrawn with the same photo and
    settings, whose result comes from a cache, is not counted again.

    Example:
        >>> log = TimingLog()
        >>> log.add("Mask R-CNN", "a", 0.1); log.add("Mask R-CNN", "a", 0.1); log.add("Mask R-CNN", "b", 0.3)
        >>> log.count("Mask R-CNN"), round(log.mean("Mask R-CNN"), 3)
        (2, 0.2)
    """

    runs: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, pipeline: str, run_key: str, seconds: float) -> None:
        self.runs.setdefault(pipeline, {}).setdefault(run_key, seconds)

    def mean(self, pipeline: str) -> float | None:
        values = list(self.runs.get(pipeline, {}).values())
        return float(np.mean(values)) if values else None

    def count(self, pipeline: str) -> int:
        return len(self.runs.get(pipeline, {}))


def run_key(data: bytes, *settings) -> str:
    """A key for one photo run with given settings."""
    return hashlib.sha256(data).hexdigest()[:16] + repr(settings)
