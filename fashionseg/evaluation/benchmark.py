"""Latency benchmarks: warm, per photo, median and spread, per stage, peak memory.

Run them with ``fashionseg bench ...``; they print, they never assert: speed
targets are checked by reading these numbers, not by timed unit tests.
"""

from __future__ import annotations

import platform
import resource
import time
from pathlib import Path

import cv2
import numpy as np

from fashionseg import settings
from fashionseg.core.images import LetterboxWindow, load_image


def default_photos(count: int = 10) -> list[Path]:
    """``count`` CCP photos spread evenly over the photos folder."""
    photos = sorted((settings.ccp_root() / "photos").glob("*.jpg"))
    if not photos:
        raise FileNotFoundError(f"no photos in {settings.ccp_root() / 'photos'}; pass photo files to benchmark")
    step = max(1, len(photos) // count)
    return photos[::step][:count]


def photo_512_bytes(path: Path) -> bytes:
    """A photo resized so its longer side is 512 px, JPEG-encoded: the "512 px photo" of the targets."""
    image = load_image(path)
    window = LetterboxWindow.fit(*image.shape[:2], 512)
    resized = cv2.resize(image, (window.scaled_width, window.scaled_height), interpolation=cv2.INTER_AREA)
    _ok, data = cv2.imencode(".jpg", resized[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return data.tobytes()


def describe(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    p10, p25, p50, p75, p90 = np.percentile(ms, [10, 25, 50, 75, 90])
    return f"median {p50:7.1f} ms   IQR {p25:.1f}-{p75:.1f}   p10-p90 {p10:.1f}-{p90:.1f}   (n={len(ms)})"


def time_predictions(
    predict, inputs: list[bytes], repeat: int, warmup: int
) -> tuple[list[float], dict[str, list[float]]]:
    """``predict`` on each input ``repeat`` times after ``warmup`` untimed calls: the total seconds of
    every call, and each stage's seconds as the result's ``timings`` report them."""
    for data in inputs[:warmup]:
        predict(data)
    totals, stages = [], {}
    for _ in range(repeat):
        for data in inputs:
            start = time.perf_counter()
            result = predict(data)
            totals.append(time.perf_counter() - start)
            for stage, seconds in result.timings.items():
                stages.setdefault(stage, []).append(seconds)
    return totals, stages


def stage_lines(totals: list[float], stages: dict[str, list[float]]) -> list[str]:
    return [
        f"  total        {describe(totals)}",
        *[f"  {stage:<12} {describe(values)}" for stage, values in stages.items()],
    ]


def bench_unet(
    segmenter,
    photos: list[Path] | None = None,
    repeat: int = 5,
    warmup: int = 3,
    double_pass: bool = False,
    name: str = "",
) -> str:
    """Encoded 512 px photo -> full-resolution cutout, warm."""
    photos = photos or default_photos()
    inputs = [photo_512_bytes(p) for p in photos]
    totals, stages = time_predictions(
        lambda data: segmenter.predict(data, double_pass=double_pass), inputs, repeat, warmup
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"U-Net {name} {'double pass' if double_pass else 'single pass'}, input {segmenter.config.input_size} px, "
        f"{len(photos)} photos at 512 px x {repeat} passes, {platform.processor() or platform.machine()}",
        *stage_lines(totals, stages),
        f"  peak memory  {peak_mb:.0f} MB (process max RSS)",
    ]
    return "\n".join(lines)


def bench_maskrcnn(segmenters: dict, photos: list[Path] | None = None, repeat: int = 5, warmup: int = 3) -> str:
    """Encoded 512 px photo -> instances with full-resolution masks, warm, for each runtime given
    (name -> :class:`~fashionseg.models.maskrcnn.predictor.InstanceSegmenter`); also checks they agree."""
    if not segmenters:
        return "no runtime to benchmark"
    photos = photos or default_photos()
    inputs = [photo_512_bytes(p) for p in photos]
    lines = [
        f"Mask R-CNN, {len(photos)} photos at 512 px x {repeat} passes, {platform.processor() or platform.machine()}"
    ]
    firsts = {}
    for name, segmenter in segmenters.items():
        totals, stages = time_predictions(segmenter.predict, inputs, repeat, warmup)
        firsts[name] = [segmenter.predict(data) for data in inputs]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lines += [
            f" {name}: {len(segmenter.config.CLASS_NAMES) - 1} classes, at most {segmenter.config.DETECTION_MAX_INSTANCES} instances",
            *stage_lines(totals, stages),
            f"  peak memory  {peak_mb:.0f} MB (process max RSS so far)",
        ]
    if len(firsts) > 1:
        lines.append(agreement(firsts))
    return "\n".join(lines)


def agreement(results: dict) -> str:
    """How far the runtimes' detections differ on the same photos: classes, scores, mask IoU."""
    from fashionseg.core.masks import mask_iou

    names = list(results)
    reference = results[names[0]]
    lines = []
    for name in names[1:]:
        same_classes, score_diff, ious = 0, 0.0, []
        for a, b in zip(reference, results[name]):
            ca, cb = [i.class_id for i in a.instances], [i.class_id for i in b.instances]
            same_classes += ca == cb
            if ca == cb and ca:
                score_diff = max(score_diff, max(abs(x.score - y.score) for x, y in zip(a.instances, b.instances)))
                ious += [float(mask_iou(x.mask[None], y.mask[None])[0, 0]) for x, y in zip(a.instances, b.instances)]
        lines.append(
            f" {name} vs {names[0]}: same instances on {same_classes}/{len(reference)} photos, max score difference "
            f"{score_diff:.4f}, mask IoU min {min(ious) if ious else float('nan'):.4f}"
        )
    return "\n".join(lines)
