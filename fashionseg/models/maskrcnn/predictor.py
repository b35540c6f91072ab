"""Mask R-CNN inference: photo -> instances (class, score, box, full-resolution mask), timed per stage.

Example:
    >>> from fashionseg.models.maskrcnn.predictor import InstanceSegmenter
    >>> segmenter = InstanceSegmenter.load("weights/maskrcnn_mobilenet_v2_512")  # doctest: +SKIP
    >>> result = segmenter.predict("photo.jpg", min_confidence=0.5)  # doctest: +SKIP
    >>> [(i.class_name, round(i.score, 2)) for i in result.instances], result.timings  # doctest: +SKIP
    ([('pants', 0.98), ('shoe', 0.91), ('shoe', 0.88)], {'decode': 0.004, 'preprocess': 0.002, 'model': 0.09, 'postprocess': 0.004})
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from numbers import Integral
from pathlib import Path

import numpy as np

from fashionseg.core.images import letterbox, load_image
from fashionseg.core.masks import encode_rle, mask_bbox
from fashionseg.exceptions import ModelNotTrainedError, UsageError
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.focus import focus_window
from fashionseg.models.maskrcnn.postprocess import paste_mask, select_detections
from fashionseg.models.model_folder import CONFIG_FILE, WEIGHTS_FILE, load_keras_weights, read_config
from fashionseg.models.runtime import ONNX_FILE, OnnxModel, choose_runtime

ONNX_OUTPUTS = ("boxes", "class_ids", "scores", "masks")


@dataclass
class Instance:
    class_id: int  # 0-based, the COCO category id of our 11 classes
    class_name: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original pixels
    mask: np.ndarray  # (H, W) bool at the photo's resolution

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class SegmentationResult:
    instances: list[Instance]
    height: int
    width: int
    timings: dict[str, float]  # seconds per stage

    @property
    def total_seconds(self) -> float:
        return float(sum(self.timings.values()))

    def to_coco_annotations(self, image_id: int, first_id: int = 1) -> list[dict]:
        """The instances as COCO annotations (RLE masks, ``score`` kept) of image ``image_id``."""
        return [
            {
                "id": first_id + k,
                "image_id": image_id,
                "category_id": inst.class_id,
                "segmentation": encode_rle(inst.mask),
                "area": inst.area,
                "bbox": mask_bbox(inst.mask),
                "iscrowd": 0,
                "score": round(inst.score, 5),
            }
            for k, inst in enumerate(self.instances)
        ]


class KerasRuntime:
    def __init__(self, config: MaskRCNNConfig, weights: Path):
        from fashionseg.models.maskrcnn.model import MaskRCNNNetworks

        self.networks = MaskRCNNNetworks(
            replace(config, BACKBONE_WEIGHTS=None)
        )  # the trained weights replace ImageNet's
        load_keras_weights(self.networks.load_weights, weights)
        self.model = self.networks.inference_model()

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.model.predict_on_batch(batch).items()}


@dataclass
class Detections:
    """The model's fixed-size detections in original-photo pixels (class ids 1-based, 0 = padding)."""

    class_ids: np.ndarray  # (N,)
    scores: np.ndarray  # (N,)
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2
    masks: np.ndarray  # (N, 28, 28) probabilities over each box

    def shifted(self, dx: float, dy: float) -> Detections:
        return replace(self, boxes=self.boxes + np.array([dx, dy, dx, dy], np.float64))

    def subset(self, rows: np.ndarray) -> Detections:
        return Detections(self.class_ids[rows], self.scores[rows], self.boxes[rows], self.masks[rows])

    @staticmethod
    def concatenate(parts: list[Detections]) -> Detections:
        return Detections(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("class_ids", "scores", "boxes", "masks"))
        )


class InstanceSegmenter:
    """A trained Mask R-CNN ready for inference, with the thesis' post-processing."""

    def __init__(self, runtime, config: MaskRCNNConfig, runtime_name: str = "keras", path: Path | None = None):
        self.runtime, self.config, self.runtime_name, self.path = runtime, config, runtime_name, path

    @classmethod
    def load(cls, path: str | Path, runtime: str | None = None) -> InstanceSegmenter:
        """Load ``path`` (``config.json`` + ``model.weights.h5``, optionally ``model.onnx``).

        ``runtime``: "keras", "onnx", or None for the fastest available (ONNX when exported).
        """
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise ModelNotTrainedError(f"no trained Mask R-CNN in {path} (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
        config = read_config(path / CONFIG_FILE, MaskRCNNConfig, MaskRCNNConfig.from_dict, "Mask R-CNN")
        if choose_runtime(path, runtime, f"fashionseg export maskrcnn --weights {path}") == "onnx":
            return cls(OnnxModel(path / ONNX_FILE, (1, *config.IMAGE_SHAPE), ONNX_OUTPUTS), config, "onnx", path)
        return cls(KerasRuntime(config, path / WEIGHTS_FILE), config, "keras", path)

    def check_options(
        self,
        min_confidence: float | None = None,
        max_instances: int | None = None,
        max_per_class: dict[str, int] | None = None,
    ) -> None:
        """Raise :class:`UsageError` for options :meth:`predict` cannot use, before any photo is run."""
        if min_confidence is not None and not 0 <= min_confidence <= 1:  # NaN fails both comparisons
            raise UsageError(f"min_confidence must be from 0 to 1, not {min_confidence!r}")
        if max_instances is not None and (
            isinstance(max_instances, bool) or not isinstance(max_instances, Integral) or max_instances < 1
        ):
            raise UsageError(f"max_instances must be a positive integer, not {max_instances!r}")
        caps = max_per_class or {}
        unknown = sorted(set(caps) - set(self.config.CLASS_NAMES[1:]))
        if unknown:
            raise UsageError(
                f"max_per_class names unknown classes {unknown}; the model's classes: {', '.join(self.config.CLASS_NAMES[1:])}"
            )
        bad = {name: n for name, n in caps.items() if isinstance(n, bool) or not isinstance(n, Integral) or n < 0}
        if bad:
            raise UsageError(f"max_per_class caps must be non-negative integers, not {bad}")

    def _detections(self, out: dict[str, np.ndarray], window) -> Detections:
        boxes = window.boxes_to_original(out["boxes"][0][:, [1, 0, 3, 2]])  # y1, x1, y2, x2 -> x1, y1, x2, y2
        return Detections(out["class_ids"][0].astype(int), out["scores"][0].astype(float), boxes, out["masks"][0])

    def _focused(self, image: np.ndarray, first: Detections, crop: tuple[int, int, int, int]) -> Detections:
        """The second pass's detections inside ``crop``, with the first pass's outside it."""
        x0, y0, x1, y1 = crop
        square, window = letterbox(image[y0:y1, x0:x1], self.config.IMAGE_MAX_DIM)
        second = self._detections(self.runtime(square[None].astype(np.float32)), window).shifted(x0, y0)
        centres_x, centres_y = (first.boxes[:, 0] + first.boxes[:, 2]) / 2, (first.boxes[:, 1] + first.boxes[:, 3]) / 2
        outside = ~((centres_x >= x0) & (centres_x < x1) & (centres_y >= y0) & (centres_y < y1))
        return Detections.concatenate([second, first.subset(outside)])

    def warm_up(self) -> None:
        """One prediction on a blank photo, so the first real one is not slowed by graph building."""
        self.predict(np.zeros((self.config.IMAGE_MAX_DIM, self.config.IMAGE_MAX_DIM, 3), np.uint8))

    def class_name(self, class_id: int) -> str:
        return self.config.CLASS_NAMES[class_id + 1]

    def predict(
        self,
        source,
        min_confidence: float | None = None,
        max_instances: int | None = None,
        max_per_class: dict[str, int] | None = None,
        focus: bool | None = None,
    ) -> SegmentationResult:
        """Segment a photo (path, bytes, file or RGB array).

        ``min_confidence``, ``max_instances``, ``max_per_class`` (class name ->
        cap) and ``focus`` default to the config's ``DETECTION_MIN_CONFIDENCE``
        (with ``DETECTION_MIN_CONFIDENCE_PER_CLASS``), ``DETECTION_MAX_INSTANCES``,
        ``DETECTION_MAX_PER_CLASS`` and ``DETECTION_FOCUS``. With focus, a
        photo whose garments fill a small part of it gets a second pass on a
        crop around them (:mod:`fashionseg.models.maskrcnn.focus`; timed as ``focus``).
        """
        c = self.config
        self.check_options(min_confidence, max_instances, max_per_class)
        timings = {}
        start = time.perf_counter()
        image = source if isinstance(source, np.ndarray) else load_image(source)
        timings["decode"] = time.perf_counter() - start

        start = time.perf_counter()
        square, window = letterbox(image, c.IMAGE_MAX_DIM)
        batch = square[None].astype(np.float32)
        timings["preprocess"] = time.perf_counter() - start

        start = time.perf_counter()
        detections = self._detections(self.runtime(batch), window)
        timings["model"] = time.perf_counter() - start

        height, width = image.shape[:2]
        if c.DETECTION_FOCUS if focus is None else focus:
            start = time.perf_counter()
            crop = focus_window(detections.boxes, detections.scores, height, width)
            if crop is not None:
                detections = self._focused(image, detections, crop)
                timings["focus"] = time.perf_counter() - start

        start = time.perf_counter()
        caps = c.DETECTION_MAX_PER_CLASS if max_per_class is None else max_per_class
        per_class = (
            {}
            if min_confidence is not None
            else {c.CLASS_NAMES.index(name): float(t) for name, t in c.DETECTION_MIN_CONFIDENCE_PER_CLASS.items()}
        )
        keep = select_detections(
            detections.class_ids,
            detections.scores,
            c.DETECTION_MIN_CONFIDENCE if min_confidence is None else min_confidence,
            c.DETECTION_MAX_INSTANCES if max_instances is None else max_instances,
            {c.CLASS_NAMES.index(name): int(n) for name, n in caps.items()},
            per_class,
        )
        instances = []
        for i in keep:
            box = detections.boxes[i]
            mask = paste_mask(detections.masks[i], box, height, width)
            class_id = int(detections.class_ids[i]) - 1
            instances.append(
                Instance(
                    class_id, self.class_name(class_id), float(detections.scores[i]), tuple(float(v) for v in box), mask
                )
            )
        timings["postprocess"] = time.perf_counter() - start
        return SegmentationResult(instances, height, width, timings)
