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

from fashionseg.core.guided_filter import grey_levels, working_scale
from fashionseg.core.images import letterbox, load_image
from fashionseg.core.masks import encode_rle, mask_bbox
from fashionseg.exceptions import ModelFolderError, ModelNotTrainedError, UsageError
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.focus import focus_window
from fashionseg.models.maskrcnn.label_head import LABEL_HEAD_FILE, LabelHead, best_scores
from fashionseg.models.maskrcnn.postprocess import drop_rival_classes, filter_reach, paste_mask, select_detections
from fashionseg.models.model_folder import CONFIG_FILE, WEIGHTS_FILE, load_keras_weights, read_config
from fashionseg.models.runtime import ONNX_FILE, OnnxModel, choose_runtime

ONNX_OUTPUTS = ("boxes", "class_ids", "scores", "masks")
FEATURES_OUTPUT = "image_features"  # in graphs exported since the label head; older ones lack it


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
    # The label head's probability of each class being in the photo (0-based ids), when it decided.
    label_probabilities: np.ndarray | None = None

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


def onnx_runtime(folder: Path, config: MaskRCNNConfig, label_head: bool, threads: int | None = None) -> OnnxModel:
    """The folder's ONNX graph; with a label head it must have been exported with ``image_features``."""
    runtime = OnnxModel(folder / ONNX_FILE, (1, *config.IMAGE_SHAPE), ONNX_OUTPUTS, threads=threads)
    if label_head and FEATURES_OUTPUT not in runtime.output_names:
        raise ModelFolderError(
            f"{folder}: its model.onnx was exported before the label head ({LABEL_HEAD_FILE}) and lacks "
            f"{FEATURES_OUTPUT}; run: fashionseg export maskrcnn --weights {folder}"
        )
    return runtime


def load_label_head(folder: Path) -> LabelHead | None:
    path = folder / LABEL_HEAD_FILE
    return LabelHead.load(path) if path.is_file() else None


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

    def __init__(
        self,
        runtime,
        config: MaskRCNNConfig,
        runtime_name: str = "keras",
        path: Path | None = None,
        label_head: LabelHead | None = None,
    ):
        self.runtime, self.config, self.runtime_name, self.path = runtime, config, runtime_name, path
        self.label_head = label_head

    @classmethod
    def load(cls, path: str | Path, runtime: str | None = None) -> InstanceSegmenter:
        """Load ``path`` (``config.json`` + ``model.weights.h5``, optionally ``model.onnx`` and
        ``label_head.npz``).

        ``runtime``: "keras", "onnx", or None for the fastest available (ONNX when exported).
        """
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise ModelNotTrainedError(f"no trained Mask R-CNN in {path} (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
        config = read_config(path / CONFIG_FILE, MaskRCNNConfig, MaskRCNNConfig.from_dict, "Mask R-CNN")
        head = load_label_head(path)
        if choose_runtime(path, runtime, f"fashionseg export maskrcnn --weights {path}") == "onnx":
            return cls(onnx_runtime(path, config, head is not None), config, "onnx", path, head)
        return cls(KerasRuntime(config, path / WEIGHTS_FILE), config, "keras", path, head)

    def check_options(
        self,
        min_confidence: float | None = None,
        max_instances: int | None = None,
        max_per_class: dict[str, int] | None = None,
        focus: bool | None = None,
        label_head: bool | None = None,
    ) -> None:
        """Raise :class:`UsageError` for options :meth:`predict` cannot use, before any photo is run."""
        if label_head and self.label_head is None:
            raise UsageError(f"{self.path or 'this model'} has no label head ({LABEL_HEAD_FILE}); fit one first")
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

    def uses_label_head(self, min_confidence: float | None = None, label_head: bool | None = None) -> bool:
        """Whether :meth:`predict` with these options lets the label head decide: ``label_head`` if given,
        else when the model has one and no ``min_confidence`` replaces the thresholds."""
        return self.label_head is not None and (min_confidence is None if label_head is None else label_head)

    def _detections(self, out: dict[str, np.ndarray], window) -> Detections:
        boxes = window.boxes_to_original(out["boxes"][0][:, [1, 0, 3, 2]])  # y1, x1, y2, x2 -> x1, y1, x2, y2
        return Detections(out["class_ids"][0].astype(int), out["scores"][0].astype(float), boxes, out["masks"][0])

    def _focused(
        self, image: np.ndarray, first: Detections, crop: tuple[int, int, int, int]
    ) -> tuple[Detections, np.ndarray | None]:
        """The second pass's detections inside ``crop``, with the first pass's outside it, and the
        crop's image features (the person, framed as the label head was trained)."""
        x0, y0, x1, y1 = crop
        square, window = letterbox(image[y0:y1, x0:x1], self.config.IMAGE_MAX_DIM)
        out = self.runtime(square[None].astype(np.float32))
        second = self._detections(out, window).shifted(x0, y0)
        centres_x, centres_y = (first.boxes[:, 0] + first.boxes[:, 2]) / 2, (first.boxes[:, 1] + first.boxes[:, 3]) / 2
        outside = ~((centres_x >= x0) & (centres_x < x1) & (centres_y >= y0) & (centres_y < y1))
        return Detections.concatenate([second, first.subset(outside)]), _features(out)

    def detections(self, image: np.ndarray, focus: bool | None = None) -> tuple[Detections, np.ndarray | None, dict]:
        """The model's detections on an RGB photo (with the focus pass if it runs), the image features
        the label head reads (None from a graph exported without them) and the seconds per stage."""
        c = self.config
        timings = {}
        start = time.perf_counter()
        square, window = letterbox(image, c.IMAGE_MAX_DIM)
        batch = square[None].astype(np.float32)
        timings["preprocess"] = time.perf_counter() - start

        start = time.perf_counter()
        out = self.runtime(batch)
        detections, features = self._detections(out, window), _features(out)
        timings["model"] = time.perf_counter() - start

        height, width = image.shape[:2]
        if c.DETECTION_FOCUS if focus is None else focus:
            start = time.perf_counter()
            crop = focus_window(detections.boxes, detections.scores, height, width)
            if crop is not None:
                detections, features = self._focused(image, detections, crop)
                timings["focus"] = time.perf_counter() - start
        return detections, features, timings

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
        label_head: bool | None = None,
    ) -> SegmentationResult:
        """Segment a photo (path, bytes, file or RGB array).

        ``min_confidence``, ``max_instances``, ``max_per_class`` (class name ->
        cap) and ``focus`` default to the config's ``DETECTION_MIN_CONFIDENCE``
        (with ``DETECTION_MIN_CONFIDENCE_PER_CLASS``), ``DETECTION_MAX_INSTANCES``,
        ``DETECTION_MAX_PER_CLASS`` and ``DETECTION_FOCUS``. With focus, a
        photo whose garments fill a small part of it gets a second pass on a
        crop around them (:mod:`fashionseg.models.maskrcnn.focus`; timed as ``focus``).

        ``label_head`` (default: when the model has one and no ``min_confidence``
        is given) lets the image-level label head decide which classes the photo
        holds (:mod:`fashionseg.models.maskrcnn.label_head`) instead of the
        confidence thresholds: their boxes are kept from the head's ``min_score``.
        The config's rival-class rule (``DETECTION_EXCLUSIVE_MASK_IOU``) may still drop one of two
        classes the head called present; ``probabilities`` keeps the head's own answer.
        """
        c = self.config
        self.check_options(min_confidence, max_instances, max_per_class, focus, label_head)
        use_head = self.uses_label_head(min_confidence, label_head)
        start = time.perf_counter()
        image = source if isinstance(source, np.ndarray) else load_image(source)
        decode = time.perf_counter() - start
        detections, features, timings = self.detections(image, focus)
        timings = {"decode": decode, **timings}

        start = time.perf_counter()
        height, width = image.shape[:2]
        caps = c.DETECTION_MAX_PER_CLASS if max_per_class is None else max_per_class
        probabilities = None
        if use_head:
            best = best_scores(detections.class_ids, detections.scores, c.NUM_CLASSES - 1)
            probabilities, present = self.label_head.decide(features, best)
            never = 2.0  # above any score: the class is not in the photo
            per_class = {k + 1: (self.label_head.min_score if present[k] else never) for k in range(len(present))}
        elif min_confidence is None:
            per_class = {
                c.CLASS_NAMES.index(name): float(t) for name, t in c.DETECTION_MIN_CONFIDENCE_PER_CLASS.items()
            }
        else:
            per_class = {}
        limit = c.DETECTION_MAX_INSTANCES if max_instances is None else max_instances
        class_caps = {c.CLASS_NAMES.index(name): int(n) for name, n in caps.items()}
        rivals = c.DETECTION_EXCLUSIVE_MASK_IOU > 0
        # With the rival-class rule the caps come after it, so a slot it frees goes to the next instance.
        keep = select_detections(
            detections.class_ids,
            detections.scores,
            c.DETECTION_MIN_CONFIDENCE if min_confidence is None else min_confidence,
            len(detections.scores) if rivals else limit,
            {} if rivals else class_caps,
            per_class,
        )
        radius = c.DETECTION_MASK_GUIDED_FILTER_RADIUS
        grey = grey_levels(image) if radius and len(keep) else None
        photo_scale = working_scale(height, width, c.IMAGE_MAX_DIM)
        masks = [
            paste_mask(
                detections.masks[i],
                detections.boxes[i],
                height,
                width,
                grey,
                radius,
                c.DETECTION_MASK_GUIDED_FILTER_EPS,
                mask_filter_scale(detections.boxes[i], photo_scale),
            )
            for i in keep
        ]
        shown = list(range(len(keep)))
        if rivals and len(keep):
            shown = drop_rival_classes(
                masks,
                detections.boxes[keep],
                detections.class_ids[keep],
                {c.CLASS_NAMES.index(name) for name in c.DETECTION_EXCLUSIVE_CLASSES},
                c.DETECTION_EXCLUSIVE_MASK_IOU,
                reach=filter_reach(radius, photo_scale) + 1,  # mask_filter_scale never exceeds photo_scale
            )
            survivors = keep[shown]
            capped = select_detections(  # survivors are best first and above their thresholds already
                detections.class_ids[survivors], detections.scores[survivors], -np.inf, limit, class_caps
            )
            shown = [shown[k] for k in capped]
        instances = []
        for k in shown:
            i, class_id = keep[k], int(detections.class_ids[keep[k]]) - 1
            box = tuple(float(v) for v in detections.boxes[i])
            instances.append(Instance(class_id, self.class_name(class_id), float(detections.scores[i]), box, masks[k]))
        timings["postprocess"] = time.perf_counter() - start
        return SegmentationResult(instances, height, width, timings, probabilities)


def mask_filter_scale(box_xyxy: np.ndarray, photo_scale: int) -> int:
    """How much a box's guided filter shrinks the photo: the photo's scale to the model input,
    but never so far that the box's short side falls under 32 working pixels.

    A garment of a small person in a wide photo is a few pixels across at the photo's scale,
    and a radius-2 filter there erased it (people at 0.3 of a wide frame: mAP@50 0.580 ->
    0.530; with this cap 0.587; README "Mask R-CNN").

    >>> mask_filter_scale(np.array([0.0, 0.0, 300.0, 500.0]), 2), mask_filter_scale(np.array([0, 0, 40.0, 20.0]), 3)
    (2, 1)
    """
    short = min(box_xyxy[2] - box_xyxy[0], box_xyxy[3] - box_xyxy[1])
    return int(min(photo_scale, max(1, short // 32)))


def _features(out: dict[str, np.ndarray]) -> np.ndarray | None:
    return out[FEATURES_OUTPUT][0].astype(np.float64) if FEATURES_OUTPUT in out else None
