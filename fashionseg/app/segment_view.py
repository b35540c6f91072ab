"""What the Segment page shows and offers for download, computed from the pipelines' results.

Kept out of ``app_pages/`` so the page only lays out widgets, and so it is tested
without a browser.

The page keeps every model result by photo content (``ResultCache``) and keeps
all of a photo's detections whatever their score, so a settings change only
filters (``select_instances``) and redraws at display size, never reruns a model.

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
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fashionseg.core.images import load_image
from fashionseg.core.masks import encode_rle, mask_bbox
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.models.maskrcnn.postprocess import select_detections

THESIS_BUDGET_SECONDS = 2.0  # the thesis' requirement per photo on a laptop CPU
# Overlays are drawn at most this large: wider than a page column, and a 12 MP photo drawn at
# full size took seconds on every settings change.
DISPLAY_MAX_SIDE = 1024
# CCP photos of the validation split (never trained on), between them showing most classes:
# dress, jacket, bag and boots; tie, jacket, shirt and pants; sweater, skirt and bag; jacket,
# t-shirt, jeans and bag. Read from the data folder, never copied into the project.
SAMPLE_PHOTOS = ("0044.jpg", "0505.jpg", "0584.jpg", "0346.jpg")


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


def jpeg_bytes(array: np.ndarray, quality: int = 90) -> bytes:
    """An RGB array as JPEG, for display: ``st.image`` sends bytes as they are (an array it
    encodes itself at quality 100, twice the bytes for the browser to fetch)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def instance_rows(result) -> list[dict]:
    """One row per instance: class, score, share of the photo, box."""
    pixels = result.height * result.width
    return [
        {
            "class": inst.class_name,
            "score": round(inst.score, 3),
            "area %": round(100 * inst.area / pixels, 2),
            "box (x1, y1, x2, y2)": ", ".join(f"{v:.0f}" for v in inst.box),
        }
        for inst in result.instances
    ]


def predictions_coco(result, file_name: str) -> str:
    """The instances of one photo as a COCO document (RLE masks, scores kept)."""
    doc = {
        "images": [{"id": 1, "file_name": file_name, "height": result.height, "width": result.width}],
        "annotations": result.to_coco_annotations(1),
        "categories": FASHIONSEG11.coco_categories(),
    }
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
        archive.writestr(
            f"{stem}_instances.json",
            json.dumps(
                [
                    {"class": i.class_name, "score": i.score, "bbox": mask_bbox(i.mask), "rle": encode_rle(i.mask)}
                    for i in result.instances
                ]
            ),
        )
    return buffer.getvalue()


# ---------------------------------------------------------------- photos on the page


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Photo:
    """One photo on the page, told apart by ``key``, never by its name.

    Phones name every photo ``image.jpg``, and one photo can be added twice, so
    names repeat; ``key`` (position and content) is unique on the page and names
    its widgets.
    """

    position: int  # 1-based, in the page's order
    name: str
    data: bytes = field(repr=False)
    digest: str

    @property
    def key(self) -> str:
        return f"{self.position}-{self.digest[:16]}"

    @property
    def title(self) -> str:
        return f"{self.position}. {self.name}"


def number_photos(named: Iterable[tuple[str, bytes]]) -> list[Photo]:
    """``(name, bytes)`` pairs as the page's photos, numbered from 1.

    Example:
        >>> photos = number_photos([("image.jpg", b"a"), ("image.jpg", b"b"), ("image.jpg", b"a")])
        >>> len({p.key for p in photos}), [p.title for p in photos][1]
        (3, '2. image.jpg')
    """
    return [Photo(k, name, data, content_digest(data)) for k, (name, data) in enumerate(named, 1)]


def sample_photos(ccp_root: Path) -> list[Path]:
    """The curated sample photos (``SAMPLE_PHOTOS``) present under ``ccp_root/photos``."""
    folder = Path(ccp_root) / "photos"
    return [folder / name for name in SAMPLE_PHOTOS if (folder / name).is_file()]


def plural(count: int, noun: str) -> str:
    """``count`` of ``noun``, singular for one.

    Example:
        >>> plural(1, "photo"), plural(3, "photo")
        ('1 photo', '3 photos')
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class PhotoSource:
    """A photo's bytes, decoded at most once per page run, and only when a model or the display needs the pixels."""

    def __init__(self, data: bytes):
        self.data = data
        self._image: np.ndarray | None = None
        self.decode_seconds = 0.0

    @property
    def image(self) -> np.ndarray:
        """The photo at its own resolution; raises :class:`ImageLoadError` for what is not a photo."""
        if self._image is None:
            start = time.perf_counter()
            self._image = load_image(self.data)
            self.decode_seconds = time.perf_counter() - start
        return self._image


def display_shape(height: int, width: int, max_side: int = DISPLAY_MAX_SIDE) -> tuple[int, int]:
    """The size a photo is drawn at: its own, or scaled down to ``max_side`` on the long side.

    Example:
        >>> display_shape(3000, 4000), display_shape(825, 550)
        ((768, 1024), (825, 550))
    """
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def mask_to_display(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask at another size: area-averaged, so a thin part stays as wide as it looks."""
    if mask.shape == tuple(shape):
        return mask
    return cv2.resize(mask.astype(np.uint8) * 255, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) >= 128


@dataclass
class DisplayPhoto:
    image: np.ndarray  # RGB, at most DISPLAY_MAX_SIDE on the long side
    height: int  # the photo's own size
    width: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    @property
    def scale(self) -> float:
        """Display pixels per photo pixel."""
        return self.image.shape[1] / self.width

    @property
    def nbytes(self) -> int:
        return self.image.nbytes


def display_photo(source: PhotoSource) -> DisplayPhoto:
    image = source.image
    height, width = image.shape[:2]
    shape = display_shape(height, width)
    shown = image if shape == (height, width) else cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return DisplayPhoto(shown, height, width)


# ---------------------------------------------------------------- Mask R-CNN results


@dataclass
class PackedMask:
    """A full-resolution boolean mask kept as the bits of its bounding box.

    For the downloads only; a 12 MP photo's ten masks take a few MB this way
    instead of 120 MB.

    Example:
        >>> mask = np.zeros((6, 9), bool); mask[2:4, 3:8] = True
        >>> packed = PackedMask.pack(mask)
        >>> bool((packed.unpack() == mask).all()), bool(PackedMask.pack(np.zeros((2, 2), bool)).unpack().any())
        (True, False)
    """

    height: int
    width: int
    top: int
    left: int
    rows: int
    cols: int
    bits: np.ndarray

    @classmethod
    def pack(cls, mask: np.ndarray) -> PackedMask:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            return cls(*mask.shape, 0, 0, 0, 0, np.zeros(0, np.uint8))
        crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        return cls(*mask.shape, int(rows[0]), int(cols[0]), *crop.shape, np.packbits(crop))

    def unpack(self) -> np.ndarray:
        out = np.zeros((self.height, self.width), bool)
        if self.rows:
            crop = np.unpackbits(self.bits, count=self.rows * self.cols).reshape(self.rows, self.cols)
            out[self.top : self.top + self.rows, self.left : self.left + self.cols] = crop.astype(bool)
        return out


@dataclass
class Detection:
    """One instance the Mask R-CNN found, whatever its score."""

    class_id: int  # 0-based
    class_name: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the photo's pixels
    area: int  # pixels of the full-resolution mask
    full_mask: PackedMask
    display_mask: np.ndarray  # at the DisplayPhoto's size


@dataclass
class InstanceDetections:
    """Everything the Mask R-CNN found on one photo, best first, and what running it took.

    The model keeps at most ``DETECTION_MAX_INSTANCES`` detections whatever
    the threshold, so all of them are kept here, and confidence, caps and class
    toggles only filter them (:func:`select_instances`).
    """

    detections: list[Detection]
    height: int
    width: int
    timings: dict[str, float]  # seconds per stage
    seconds: float  # wall clock of the run (decode to display-size masks), waiting for the model included

    @property
    def nbytes(self) -> int:
        return sum(d.full_mask.bits.nbytes + d.display_mask.nbytes for d in self.detections)


def run_instances(segmenter, source: PhotoSource, shape: tuple[int, int]) -> InstanceDetections:
    """Run the Mask R-CNN once on a photo, keeping every detection (no threshold, no cap).

    ``shape``: the display size the masks are also kept at.
    """
    image = source.image
    start = time.perf_counter()
    result = segmenter.predict(
        image, min_confidence=0.0, max_instances=segmenter.config.DETECTION_MAX_INSTANCES, max_per_class={}
    )
    prepare = time.perf_counter()
    detections = [
        Detection(
            i.class_id, i.class_name, i.score, i.box, i.area, PackedMask.pack(i.mask), mask_to_display(i.mask, shape)
        )
        for i in result.instances
    ]
    end = time.perf_counter()
    timings = {**result.timings, "decode": source.decode_seconds, "display": end - prepare}
    return InstanceDetections(detections, result.height, result.width, timings, source.decode_seconds + end - start)


@dataclass
class Selection:
    """The detections a user's settings keep; ``instances`` quacks like a SegmentationResult's for the table."""

    instances: list[Detection]
    height: int
    width: int

    def full_result(self):
        """As the predictor's SegmentationResult, with full-resolution masks (for the downloads)."""
        from fashionseg.models.maskrcnn.predictor import Instance, SegmentationResult

        return SegmentationResult(
            [Instance(d.class_id, d.class_name, d.score, d.box, d.full_mask.unpack()) for d in self.instances],
            self.height,
            self.width,
            {},
        )


def select_instances(
    found: InstanceDetections,
    config,
    min_confidence: float | None = None,
    max_instances: int | None = None,
    max_per_class: dict[str, int] | None = None,
) -> Selection:
    """The thesis' post-processing (5.5.1) on a photo's detections, as the predictor applies it.

    ``None`` means the model's own setting: for ``min_confidence`` its
    ``DETECTION_MIN_CONFIDENCE`` with its ``DETECTION_MIN_CONFIDENCE_PER_CLASS``.
    """
    names = list(config.CLASS_NAMES)
    caps = config.DETECTION_MAX_PER_CLASS if max_per_class is None else max_per_class
    per_class = (
        {}
        if min_confidence is not None
        else {names.index(n): float(t) for n, t in config.DETECTION_MIN_CONFIDENCE_PER_CLASS.items()}
    )
    keep = select_detections(
        np.array([d.class_id + 1 for d in found.detections], int),
        np.array([d.score for d in found.detections], float),
        config.DETECTION_MIN_CONFIDENCE if min_confidence is None else min_confidence,
        config.DETECTION_MAX_INSTANCES if max_instances is None else max_instances,
        {names.index(n): int(c) for n, c in caps.items()},
        per_class,
    )
    return Selection([found.detections[i] for i in keep], found.height, found.width)


def overlay_items(instances: list[Detection], scale: float) -> list[tuple]:
    """``draw_instances``'s tuples at display size."""
    return [(d.class_name, d.score, tuple(v * scale for v in d.box), d.display_mask) for d in instances]


def class_counts(instances: list[Detection]) -> dict[str, int]:
    """Instances per class, in the classes' order (for the legend)."""
    names = [d.class_name for d in instances]
    return {name: names.count(name) for name in FASHIONSEG11.names if name in names}


def thresholds_text(config) -> str:
    """The model's own confidence thresholds in words.

    Example:
        >>> from fashionseg.models.maskrcnn.config import MaskRCNNConfig
        >>> thresholds_text(MaskRCNNConfig(DETECTION_MIN_CONFIDENCE_PER_CLASS={"shoe": 0.4}))
        'shoe 0.40, every other class 0.70'
    """
    own = config.DETECTION_MIN_CONFIDENCE_PER_CLASS
    parts = [f"{name} {float(own[name]):.2f}" for name in FASHIONSEG11.names if name in own]
    rest = f"{config.DETECTION_MIN_CONFIDENCE:.2f}"
    return ", ".join(parts + [f"every other class {rest}"]) if parts else f"{rest} for every class"


# ---------------------------------------------------------------- U-Net results


@dataclass
class Cutout:
    """The U-Net's garment probability on one photo; the threshold is applied when drawn."""

    probability: (
        np.ndarray
    )  # (H, W) float16 at the photo's resolution, for the download (float16: 24 MB for 12 MP, not 48)
    display_probability: np.ndarray  # (h, w) float32 at display size
    threshold: float | None  # a double pass's own (its second model's) threshold; None: the page's
    timings: dict[str, float]
    seconds: float

    def mask(self, threshold: float) -> np.ndarray:
        return self.display_probability >= (threshold if self.threshold is None else self.threshold)

    def cutout_png(self, data: bytes, threshold: float) -> bytes:
        """The RGBA cutout at the photo's resolution, as PNG."""
        from fashionseg.models.unet.predictor import cutout_rgba

        used = threshold if self.threshold is None else self.threshold
        return png_bytes(cutout_rgba(load_image(data), self.probability >= used))

    @property
    def nbytes(self) -> int:
        return self.probability.nbytes + self.display_probability.nbytes


def run_cutout(segmenter, source: PhotoSource, shape: tuple[int, int], threshold: float, double_pass: bool) -> Cutout:
    """Run the U-Net once on a photo. A single pass does not depend on the threshold; a
    double pass does (the first mask decides what the second model sees)."""
    image = source.image
    start = time.perf_counter()
    result = segmenter.predict(image, threshold=threshold, double_pass=double_pass)
    prepare = time.perf_counter()
    shown = (
        result.probability
        if result.probability.shape == tuple(shape)
        else cv2.resize(result.probability, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    )
    cut = Cutout(
        result.probability.astype(np.float16),
        shown.astype(np.float32),
        result.threshold if double_pass else None,
        {},
        0.0,
    )
    end = time.perf_counter()
    cut.timings = {**result.timings, "decode": source.decode_seconds, "display": end - prepare}
    cut.seconds = source.decode_seconds + end - start
    return cut


def cutout_key(model: str, digest: str, threshold: float, double_pass: bool) -> tuple:
    return ("unet", model, digest, "double", round(threshold, 4)) if double_pass else ("unet", model, digest)


@dataclass
class CutoutView:
    """A cutout as shown: JPEG on a checkerboard, and the garment's share of the photo."""

    jpeg: bytes
    share: float

    @property
    def nbytes(self) -> int:
        return len(self.jpeg)


def cutout_display(shown: DisplayPhoto, cut: Cutout, threshold: float) -> CutoutView:
    mask = cut.mask(threshold)
    return CutoutView(
        jpeg_bytes(on_checkerboard(np.dstack([shown.image, (mask * 255).astype(np.uint8)]))), float(mask.mean())
    )


# ---------------------------------------------------------------- caching and timing


class ResultCache:
    """Model results by model and photo content, least recently used dropped past ``max_bytes``.

    One per process (``app_resources.result_cache``), shared by every browser
    session: a photo runs through a model once, however often and by whomever it
    is shown again. Values with an ``nbytes`` count against the limit.

    Example:
        >>> cache = ResultCache(max_bytes=10)
        >>> cache.put("a", np.zeros(6, np.uint8)); cache.put("b", np.zeros(6, np.uint8))
        >>> cache.get("a") is None, cache.get("b") is not None
        (True, True)
    """

    def __init__(self, max_bytes: int = 512 * 2**20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            if key in self._items:
                self._bytes -= getattr(self._items.pop(key), "nbytes", 0)
            self._items[key] = value
            self._bytes += getattr(value, "nbytes", 0)
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= getattr(dropped, "nbytes", 0)

    def get_or_compute(self, key: Hashable, compute: Callable[[], object]) -> tuple[object, bool]:
        """The value and whether ``compute`` ran; it runs outside the lock, so one photo's model run
        does not hold up another session's redraw."""
        value = self.get(key)
        if value is not None:
            return value, False
        value = compute()
        self.put(key, value)
        return value, True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class TimingLog:
    """What running each distinct photo took this session, per pipeline, for the session's mean.

    A photo counts once (by content): redrawn from cached results, added
    twice or shown again under another name, it is not counted again.

    Example:
        >>> log = TimingLog()
        >>> log.add("Mask R-CNN", "a", 0.1); log.add("Mask R-CNN", "a", 0.5); log.add("Mask R-CNN", "b", 0.3)
        >>> log.count("Mask R-CNN"), round(log.mean("Mask R-CNN"), 3)
        (2, 0.2)
    """

    runs: dict[str, dict[str, float]] = field(default_factory=dict)
    stages: dict[str, dict[str, tuple[str, dict[str, float]]]] = field(default_factory=dict)

    def add(
        self, pipeline: str, digest: str, seconds: float, name: str = "", stages: dict[str, float] | None = None
    ) -> None:
        if digest in self.runs.get(pipeline, {}):
            return
        self.runs.setdefault(pipeline, {})[digest] = seconds
        self.stages.setdefault(pipeline, {})[digest] = (name, dict(stages or {}))

    def mean(self, pipeline: str) -> float | None:
        values = list(self.runs.get(pipeline, {}).values())
        return float(np.mean(values)) if values else None

    def count(self, pipeline: str) -> int:
        return len(self.runs.get(pipeline, {}))

    def stage_rows(self) -> list[dict]:
        """One row per pipeline, photo and stage, for the session's stage chart."""
        return [
            {"pipeline": pipeline, "photo": f"{name} · {pipeline}", "stage": stage, "ms": seconds * 1000}
            for pipeline, photos in self.stages.items()
            for name, stages in photos.values()
            for stage, seconds in stages.items()
        ]


def budget_delta(mean_seconds: float) -> tuple[str, str]:
    """The metric's delta against the thesis' budget, and its colour mode."""
    if mean_seconds <= THESIS_BUDGET_SECONDS:
        return f"{(THESIS_BUDGET_SECONDS - mean_seconds) * 1000:.0f} ms under the thesis' 2 s budget", "normal"
    return f"{(mean_seconds - THESIS_BUDGET_SECONDS) * 1000:.0f} ms over the thesis' 2 s budget", "inverse"


def run_summary(seconds: float, ran: bool) -> str:
    """What ran for a photo on this page run, in words.

    Example:
        >>> run_summary(0.8123, True), run_summary(0.8123, False)
        ('model ran in 812 ms', 'cached, no model ran')
    """
    return f"model ran in {seconds * 1000:.0f} ms" if ran else "cached, no model ran"


def stages_text(timings: dict[str, float]) -> str:
    """A run's stages, for a tooltip.

    Example:
        >>> stages_text({"decode": 0.01, "model": 0.7})
        'decode 10 ms, model 700 ms'
    """
    return ", ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in timings.items())
