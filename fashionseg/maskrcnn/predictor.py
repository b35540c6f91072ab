"""Mask R-CNN inference: photo -> instances (class, score, box, full-resolution mask), timed per stage.

Example:
    >>> from fashionseg.maskrcnn.predictor import InstanceSegmenter
    >>> segmenter = InstanceSegmenter.load("weights/maskrcnn_mobilenet_v2_512")  # doctest: +SKIP
    >>> result = segmenter.predict("photo.jpg", min_confidence=0.5)  # doctest: +SKIP
    >>> [(i.class_name, round(i.score, 2)) for i in result.instances], result.timings  # doctest: +SKIP
    ([('pants', 0.98), ('shoe', 0.91), ('shoe', 0.88)], {'decode': 0.004, 'preprocess': 0.002, 'model': 0.09, 'postprocess': 0.004})
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fashionseg.images import letterbox, load_image
from fashionseg.maskrcnn.config import MaskRCNNConfig
from fashionseg.maskrcnn.postprocess import box_to_original, paste_mask, select_detections
from fashionseg.masks import encode_rle, mask_bbox
from fashionseg.onnx import ONNX_FILE, OnnxModel, choose_runtime
from fashionseg.settings import ModelNotTrainedError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"


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
        return [{"id": first_id + k, "image_id": image_id, "category_id": inst.class_id, "segmentation": encode_rle(inst.mask),
                 "area": inst.area, "bbox": mask_bbox(inst.mask), "iscrowd": 0, "score": round(inst.score, 5)}
                for k, inst in enumerate(self.instances)]


class KerasRuntime:
    def __init__(self, config: MaskRCNNConfig, weights: Path):
        from fashionseg.maskrcnn.model import MaskRCNNNetworks

        self.networks = MaskRCNNNetworks(replace(config, BACKBONE_WEIGHTS=None))  # the trained weights replace ImageNet's
        self.networks.load_weights(weights)
        self.model = self.networks.inference_model()

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.model.predict_on_batch(batch).items()}


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
        config = MaskRCNNConfig.load(path / CONFIG_FILE)
        if choose_runtime(path, runtime, f"fashionseg export maskrcnn {path}") == "onnx":
            return cls(OnnxModel(path / ONNX_FILE), config, "onnx", path)
        return cls(KerasRuntime(config, path / WEIGHTS_FILE), config, "keras", path)

    def warm_up(self) -> None:
        """One prediction on a blank photo, so the first real one is not slowed by graph building."""
        self.predict(np.zeros((self.config.IMAGE_MAX_DIM, self.config.IMAGE_MAX_DIM, 3), np.uint8))

    def class_name(self, class_id: int) -> str:
        return self.config.CLASS_NAMES[class_id + 1]

    def predict(self, source, min_confidence: float | None = None, max_instances: int | None = None,
                max_per_class: dict[str, int] | None = None) -> SegmentationResult:
        """Segment a photo (path, bytes, file or RGB array).

        ``min_confidence``, ``max_instances`` and ``max_per_class`` (class name ->
        cap) default to the config's ``DETECTION_MIN_CONFIDENCE``,
        ``DETECTION_MAX_INSTANCES`` and ``DETECTION_MAX_PER_CLASS``.
        """
        c = self.config
        timings = {}
        start = time.perf_counter()
        image = source if isinstance(source, np.ndarray) else load_image(source)
        timings["decode"] = time.perf_counter() - start

        start = time.perf_counter()
        square, window = letterbox(image, c.IMAGE_MAX_DIM)
        batch = square[None].astype(np.float32)
        timings["preprocess"] = time.perf_counter() - start

        start = time.perf_counter()
        out = self.runtime(batch)
        timings["model"] = time.perf_counter() - start

        start = time.perf_counter()
        caps = c.DETECTION_MAX_PER_CLASS if max_per_class is None else max_per_class
        unknown = set(caps) - set(c.CLASS_NAMES[1:])
        if unknown:
            raise ValueError(f"max_per_class names unknown classes: {sorted(unknown)}")
        keep = select_detections(
            out["class_ids"][0], out["scores"][0],
            c.DETECTION_MIN_CONFIDENCE if min_confidence is None else min_confidence,
            c.DETECTION_MAX_INSTANCES if max_instances is None else max_instances,
            {c.CLASS_NAMES.index(name): int(n) for name, n in caps.items()},
        )
        height, width = image.shape[:2]
        instances = []
        for i in keep:
            box = box_to_original(out["boxes"][0, i], window)
            mask = paste_mask(out["masks"][0, i], box, height, width)
            class_id = int(out["class_ids"][0, i]) - 1
            instances.append(Instance(class_id, self.class_name(class_id), float(out["scores"][0, i]), tuple(float(v) for v in box), mask))
        timings["postprocess"] = time.perf_counter() - start
        return SegmentationResult(instances, height, width, timings)

