"""Garment cutout inference: photo -> probability map, mask and RGBA cutout at full resolution.

Example:
    >>> from fashionseg.models.unet.predictor import GarmentSegmenter
    >>> segmenter = GarmentSegmenter.load("weights/unet_mobilenet_v2_320")  # doctest: +SKIP
    >>> result = segmenter.predict("photo.jpg")  # doctest: +SKIP
    >>> result.cutout.shape, result.timings  # doctest: +SKIP
    ((825, 550, 4), {'decode': 0.004, 'preprocess': 0.001, 'model': 0.041, 'postprocess': 0.006})
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fashionseg.core.guided_filter import guided_filter, working_scale
from fashionseg.core.images import load_image
from fashionseg.exceptions import ModelNotTrainedError, UsageError
from fashionseg.models.maskrcnn.focus import focus_window
from fashionseg.models.model_folder import CONFIG_FILE, WEIGHTS_FILE, load_keras_weights, read_config
from fashionseg.models.runtime import ONNX_FILE, OnnxModel, choose_runtime
from fashionseg.models.unet.data import focus_image, resize_down, resize_up
from fashionseg.models.unet.model import UNetConfig, build_unet

SECOND_PASS_DIR = "second_pass"


@dataclass
class CutoutResult:
    probability: np.ndarray  # (H, W) float32 in [0, 1], at the photo's resolution
    mask: np.ndarray  # (H, W) bool
    cutout: np.ndarray  # (H, W, 4) uint8 RGBA: the photo, transparent outside the mask
    threshold: float
    timings: dict[str, float]  # seconds per stage

    @property
    def total_seconds(self) -> float:
        return float(sum(self.timings.values()))


def cutout_rgba(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.dstack([image, (mask * 255).astype(np.uint8)])


class GarmentSegmenter:
    """A trained U-Net (and optionally its second-pass model) ready for inference.

    ``runtime`` maps a (1, S, S, 3) float32 batch to the (S, S) garment probability;
    it is the Keras model or, where ``model.onnx`` was exported, ONNX Runtime
    (``runtime_name`` says which), as :class:`fashionseg.models.maskrcnn.predictor.InstanceSegmenter`'s.
    """

    def __init__(
        self, runtime, config: UNetConfig, second_pass: GarmentSegmenter | None = None, runtime_name: str = "keras"
    ):
        self.runtime, self.config, self.second_pass, self.runtime_name = runtime, config, second_pass, runtime_name

    @classmethod
    def from_keras(cls, model, config: UNetConfig, second_pass: GarmentSegmenter | None = None) -> GarmentSegmenter:
        return cls(lambda batch: np.asarray(model.predict_on_batch(batch))[0, :, :, 0], config, second_pass, "keras")

    @classmethod
    def load(cls, path: str | Path, runtime: str | None = None, threads: int | None = None) -> GarmentSegmenter:
        """Load ``path`` (``config.json`` + ``model.weights.h5``, optionally ``model.onnx``, and ``second_pass/``).

        ``runtime``: "keras", "onnx", or None for ONNX where exported. ``threads``: ONNX Runtime's
        threads (default: its own choice, all cores); one per worker when several share a machine.
        """
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise ModelNotTrainedError(f"no trained U-Net in {path} (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
        runtime = choose_runtime(path, runtime, f"fashionseg export unet --weights {path}")
        config = read_config(path / CONFIG_FILE, UNetConfig)
        second = (
            cls.load(path / SECOND_PASS_DIR, runtime, threads)
            if (path / SECOND_PASS_DIR / CONFIG_FILE).is_file()
            else None
        )
        if runtime == "onnx":
            session = OnnxModel(path / ONNX_FILE, (1, config.input_size, config.input_size, 3), threads=threads)
            return cls(lambda batch: next(iter(session(batch).values()))[0, :, :, 0], config, second, "onnx")
        model = build_unet(replace(config, encoder_weights=None))  # the trained weights replace ImageNet's
        load_keras_weights(model.load_weights, path / WEIGHTS_FILE)
        return cls.from_keras(model, config, second)

    def warm_up(self) -> None:
        """One prediction on a blank photo, so the first real one is not slowed by graph building."""
        self.predict(np.zeros((self.config.input_size, self.config.input_size, 3), np.uint8))

    def probability(
        self, image: np.ndarray, timings: dict[str, float] | None = None, refine: bool = True
    ) -> np.ndarray:
        """The garment probability of every pixel of an RGB photo, at its resolution.

        With the config's ``mirror_average`` the model also runs on the mirror image, and the two
        maps are averaged. ``refine=False`` leaves out the config's guided filter (:meth:`refine`). With
        ``timings``, adds the seconds spent in "preprocess", "model" and "postprocess"
        (the resize back up and the filter) to it.
        """
        timings = {} if timings is None else timings
        start = time.perf_counter()
        x = resize_down(image, self.config.input_size)[None].astype(np.float32)
        timings["preprocess"] = timings.get("preprocess", 0.0) + time.perf_counter() - start
        start = time.perf_counter()
        square = self.runtime(x)
        if self.config.mirror_average:
            square = (square + self.runtime(np.ascontiguousarray(x[:, :, ::-1]))[:, ::-1]) / 2
        timings["model"] = timings.get("model", 0.0) + time.perf_counter() - start
        start = time.perf_counter()
        probability = resize_up(square, *image.shape[:2])
        if refine:
            probability = self.refine(image, probability)
        timings["postprocess"] = timings.get("postprocess", 0.0) + time.perf_counter() - start
        return probability

    def refine(self, image: np.ndarray, probability: np.ndarray) -> np.ndarray:
        """``probability`` (scaled up from this model's output) with its edges moved onto the photo's.

        The config's ``guided_filter_radius`` (0: returned as it is), at about the model's resolution.
        """
        if not self.config.guided_filter_radius:
            return probability
        scale = working_scale(*image.shape[:2], self.config.input_size)
        return guided_filter(image, probability, self.config.guided_filter_radius, self.config.guided_filter_eps, scale)

    def predict(
        self, source, threshold: float | None = None, double_pass: bool = False, focus: bool | None = None
    ) -> CutoutResult:
        """Segment a photo (path, bytes, file or RGB array) into a cutout, timing each stage.

        ``focus`` (default: the config's): when the garments found fill a small
        part of the photo, run the model again on a crop around them (timed as
        "focus"), so a small person is seen at the model's full input size.
        """
        if threshold is not None and not 0 <= threshold <= 1:  # NaN fails both comparisons
            raise UsageError(f"threshold must be from 0 to 1, not {threshold!r}")
        if double_pass and self.second_pass is None:
            raise ModelNotTrainedError("this model has no second-pass model (train one with --second-pass-of)")
        timings = {}
        start = time.perf_counter()
        image = source if isinstance(source, np.ndarray) else load_image(source)
        timings["decode"] = time.perf_counter() - start

        # The focus window is found on the map as the model gave it: on a small person in a
        # wide photo the guided filter, at a few photo pixels per model pixel, can thin out the
        # limbs that tell the window where the person ends (people at 0.3 of a wide frame: 0.940
        # Dice found this way, 0.931 on the filtered map; the model card of unet_mobilenet_v2_384_robust2).
        first = self.probability(image, timings, refine=False)
        start = time.perf_counter()
        used = self.config.threshold if threshold is None else threshold
        probability = self.refine(image, first)
        mask = probability >= used
        timings["postprocess"] += time.perf_counter() - start

        if self.config.focus if focus is None else focus:
            start = time.perf_counter()
            window = garment_window(first >= used)
            if window is not None:
                x0, y0, x1, y1 = window
                probability[y0:y1, x0:x1] = self.probability(image[y0:y1, x0:x1])
                mask = probability >= used
                timings["focus"] = time.perf_counter() - start

        if double_pass:
            start = time.perf_counter()
            focused = focus_image(image, mask, self.second_pass.config.double_pass_dilation)
            probability = self.second_pass.probability(focused)
            used = self.second_pass.config.threshold
            mask = probability >= used
            timings["second pass"] = time.perf_counter() - start

        start = time.perf_counter()
        cutout = cutout_rgba(image, mask)
        timings["postprocess"] += time.perf_counter() - start
        return CutoutResult(probability, mask, cutout, used, timings)


def garment_window(mask: np.ndarray, trim: float = 0.005) -> tuple[int, int, int, int] | None:
    """The crop worth a focus pass around a garment mask, or None (see :func:`fashionseg.models.maskrcnn.focus.focus_window`).

    The region spans the garment pixels' coordinates from the ``trim`` to the
    ``1 - trim`` quantile, so a few stray pixels far away do not stretch it.
    """
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return None
    y0, y1 = np.quantile(rows, [trim, 1 - trim])
    x0, x1 = np.quantile(cols, [trim, 1 - trim])
    return focus_window(np.array([[x0, y0, x1 + 1, y1 + 1]]), np.ones(1), *mask.shape)
