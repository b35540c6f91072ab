"""Batch work on Ray Data: pre-annotation and evaluation of many photos on a cluster.

Photos stream through a pool of Ray actors; each actor loads the model once
(the Mask R-CNN or the U-Net, ONNX Runtime, one thread: a worker per core)
and returns its instances or garment mask as compressed RLE. The driver alone writes to the store, in batches of
``write_batch`` images per transaction, so the database sees one writer
however many workers there are. The results are those of the one-process path
(:func:`fashionseg.annotation.preannotation.preannotate`, :func:`fashionseg.models.maskrcnn.evaluate.evaluate_maskrcnn`):
the same model file and the same post-processing run on each photo, and the
driver turns them into annotations with the same code.

A pre-annotation rerun skips what is done, like the one-process path: images
with annotations (or reviewed) are left alone unless ``overwrite``. A crash
loses at most the batch being written.

Every node needs this package installed and the photos at the same path
(a shared folder or mount); :func:`start_ray` with an address joins an
existing cluster (``ray start --head`` on one machine, ``ray start --address``
on the others).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from fashionseg.exceptions import ImageLoadError, RayClusterError, UsageError

WRITE_BATCH = 64  # images per store transaction: one commit per ~0.1 s of pre-annotation on 2 cores
PREDICT_BATCH = 4  # photos per call of a worker: small, so the progress moves and work spreads evenly


def start_ray(address: str | None = None, num_cpus: int | None = None) -> dict:
    """Join the cluster at ``address``, or start a local one on this machine (``num_cpus`` cores,
    default all); returns the cluster's resources. Ray's own progress bars are turned off: the
    commands show one bar of photos done."""
    import ray

    if not ray.is_initialized():
        if address:
            _check_reachable(address)
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RayClusterError(f"cannot start or reach {where} ({first})") from None
    import ray.data

    for name in ("ray", "ray.data"):  # Ray Data's per-run INFO lines would break the progress bar
        logging.getLogger(name).setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    return ray.cluster_resources()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once on a head node that does not answer: ``ray.init`` would retry it for minutes."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(
            f"--ray-address must be HOST:PORT (the head node's 'ray start --head --port'), not {address!r}"
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayClusterError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); is 'ray start --head' running there?"
        ) from None


def check_model(weights: str | Path) -> Path:
    """The model folder, checked before any worker starts: Ray runs the ONNX export."""
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.models.model_folder import CONFIG_FILE, read_config
    from fashionseg.models.runtime import choose_runtime

    folder = Path(weights).resolve()
    read_config(folder / CONFIG_FILE, MaskRCNNConfig)
    choose_runtime(folder, "onnx", f"fashionseg export maskrcnn --weights {folder}")
    return folder


def check_unet(weights: str | Path) -> Path:
    """The U-Net folder, checked before any worker starts: Ray runs the ONNX export."""
    from fashionseg.models.model_folder import CONFIG_FILE, read_config
    from fashionseg.models.runtime import choose_runtime
    from fashionseg.models.unet.model import UNetConfig

    folder = Path(weights).resolve()
    read_config(folder / CONFIG_FILE, UNetConfig)
    choose_runtime(folder, "onnx", f"fashionseg export unet --weights {folder}")
    return folder


class _Worker:
    """A Ray actor: a model loaded once (``load``), then each photo of a batch -> its answer as JSON
    (``answer``), timed as the one-process evaluation times it: encoded bytes -> full-resolution result.
    An unreadable photo answers with its error, for the driver to report."""

    def __init__(self, weights: str, options: dict, threads: int):
        self.segmenter = self.load(Path(weights), threads)
        self.options = options

    def load(self, folder: Path, threads: int):
        raise NotImplementedError

    def answer(self, result, seconds: float) -> dict:
        raise NotImplementedError

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = []
        for path in batch["path"]:
            try:
                data = Path(path).read_bytes()
                start = time.perf_counter()
                result = self.segmenter.predict(data, **self.options)
                seconds = time.perf_counter() - start
            except (ImageLoadError, OSError) as exc:
                results.append(json.dumps({"error": str(exc) or type(exc).__name__, "kind": type(exc).__name__}))
                continue
            results.append(json.dumps(self.answer(result, seconds)))
        return {"index": batch["index"], "result": np.array(results, dtype=object)}


class _GarmentCutter(_Worker):
    """The U-Net: photos -> garment masks (RLE)."""

    def load(self, folder: Path, threads: int):
        from fashionseg.models.unet.predictor import GarmentSegmenter

        return GarmentSegmenter.load(folder, "onnx", threads=threads)

    def answer(self, result, seconds: float) -> dict:
        from fashionseg.core.masks import encode_rle

        mask = encode_rle(result.mask)
        return {"size": mask["size"], "counts": mask["counts"], "seconds": seconds}


def _decode_cutout(text: str):
    """A U-Net worker's answer as (garment mask, seconds), or the error it met."""
    from fashionseg.core.masks import decode_rle

    data = json.loads(text)
    if "error" in data:
        return ImageLoadError(data["error"]) if data["kind"] == "ImageLoadError" else OSError(data["error"])
    return decode_rle({"size": data["size"], "counts": data["counts"]}), data["seconds"]


class _Segmenter(_Worker):
    """The Mask R-CNN: photos -> instances (RLE masks)."""

    def load(self, folder: Path, threads: int):
        from fashionseg.models.maskrcnn.config import MaskRCNNConfig
        from fashionseg.models.maskrcnn.predictor import InstanceSegmenter, load_label_head, onnx_runtime
        from fashionseg.models.model_folder import CONFIG_FILE, read_config

        config = read_config(folder / CONFIG_FILE, MaskRCNNConfig)
        head = load_label_head(folder)
        return InstanceSegmenter(onnx_runtime(folder, config, head is not None, threads), config, "onnx", folder, head)

    def answer(self, result, seconds: float) -> dict:
        from fashionseg.core.masks import encode_rle

        instances = [
            {
                "class_id": i.class_id,
                "class_name": i.class_name,
                "score": i.score,
                "box": list(i.box),
                "counts": encode_rle(i.mask)["counts"],
            }
            for i in result.instances
        ]
        return {
            "height": result.height,
            "width": result.width,
            "seconds": seconds,
            "timings": result.timings,
            "instances": instances,
        }


def _decode(text: str):
    """A worker's answer as (SegmentationResult, seconds), or the error it met."""
    from fashionseg.core.masks import decode_rle
    from fashionseg.models.maskrcnn.predictor import Instance, SegmentationResult

    data = json.loads(text)
    if "error" in data:
        return ImageLoadError(data["error"]) if data["kind"] == "ImageLoadError" else OSError(data["error"])
    size = [data["height"], data["width"]]
    instances = [
        Instance(
            i["class_id"],
            i["class_name"],
            i["score"],
            tuple(i["box"]),
            decode_rle({"size": size, "counts": i["counts"]}),
        )
        for i in data["instances"]
    ]
    return SegmentationResult(instances, data["height"], data["width"], data["timings"]), data["seconds"]


def _stream(
    weights: Path,
    paths: list[str],
    options: dict,
    workers: int | None,
    batch_size: int,
    actor: type = _Segmenter,
    decode: Callable = _decode,
) -> Iterator[tuple[int, object]]:
    """(index into ``paths``, ``decode``d answer of an ``actor``) as workers finish them, in no set order."""
    import ray
    import ray.data

    if not paths:
        return
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = min(workers, len(paths))
    # Enough blocks that every worker stays busy to the end, few enough that scheduling stays cheap.
    blocks = min(len(paths), max(4 * workers, len(paths) // 256))
    dataset = ray.data.from_items([{"index": k, "path": p} for k, p in enumerate(paths)], override_num_blocks=blocks)
    with warnings.catch_warnings():
        # max_restarts still works in the pinned Ray (2.60) but warns of its removal in 2.64. A worker that
        # dies fails the run instead of restarting, and a rerun resumes where the store stands; Ray's
        # restart path would also print an error line for every worker (ray-project/ray#53727).
        warnings.simplefilter("ignore", DeprecationWarning)
        answers = dataset.map_batches(
            actor,
            fn_constructor_kwargs={"weights": str(weights), "options": options, "threads": 1},
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
            max_restarts=0,
        )
    for batch in answers.iter_batches(batch_size=None, batch_format="numpy"):
        for index, text in zip(batch["index"], batch["result"]):
            yield int(index), decode(text)


def _in_order(answers: Iterator[tuple[int, object]]) -> Iterator:
    """Answers that come as workers finish them, handed on in the photos' order; an unreadable photo
    stops the run, as it stops the one-process evaluation."""
    waiting, next_index = {}, 0
    for index, answer in answers:
        if isinstance(answer, Exception):
            raise answer
        waiting[index] = answer
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1


def ray_predictions(weights: str | Path, *, workers: int | None = None, batch_size: int = PREDICT_BATCH) -> Callable:
    """A ``predict_many`` for :func:`fashionseg.models.maskrcnn.evaluate.evaluate_maskrcnn` and the robustness
    runs: the photos run on the Ray cluster (:func:`start_ray` first), results come back in order."""
    folder = check_model(weights)

    def predict_many(images: list[dict], images_dir, predict_options: dict) -> Iterator[tuple]:
        paths = [str(Path(images_dir) / im["file_name"]) for im in images]
        yield from _in_order(_stream(folder, paths, dict(predict_options or {}), workers, batch_size))

    return predict_many


def ray_garment_predictions(
    weights: str | Path, *, workers: int | None = None, batch_size: int = PREDICT_BATCH
) -> Callable:
    """A ``predict_many`` for :func:`fashionseg.models.unet.evaluate.evaluate_unet` and the U-Net's robustness
    runs: (garment mask, seconds) per photo from the Ray cluster (:func:`start_ray` first), in order."""
    folder = check_unet(weights)

    def predict_many(examples: list, double_pass: bool) -> Iterator[tuple]:
        paths = [str(ex.image_path) for ex in examples]
        yield from _in_order(
            _stream(folder, paths, {"double_pass": double_pass}, workers, batch_size, _GarmentCutter, _decode_cutout)
        )

    return predict_many


def preannotate_ray(
    store,
    dataset: str,
    weights: str | Path,
    *,
    model_name: str,
    overwrite: bool = False,
    limit: int | None = None,
    workers: int | None = None,
    batch_size: int = PREDICT_BATCH,
    write_batch: int = WRITE_BATCH,
    on_progress: Callable[[int, int, str], None] | None = None,
):
    """:func:`fashionseg.annotation.preannotation.preannotate` on the Ray cluster (:func:`start_ray` first); returns
    the same :class:`~fashionseg.annotation.preannotation.PreannotationReport`."""
    from fashionseg.annotation.draft import MODEL_AUTHOR_PREFIX, Draft
    from fashionseg.annotation.preannotation import PreannotationReport
    from fashionseg.core.coco import file_name_problem

    if write_batch < 1:
        raise UsageError(f"write_batch must be at least 1, not {write_batch}")
    folder = check_model(weights)
    category_ids = store.category_ids(dataset)
    author = MODEL_AUTHOR_PREFIX + model_name
    report = PreannotationReport()
    images = store.images(dataset)
    annotated = store.annotated_image_ids(dataset)
    todo = [im for im in images if not im.reviewed and (overwrite or im.id not in annotated)]
    report.skipped = len(images) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    runnable = []
    for image in todo:
        problem = file_name_problem(image.file_name)
        if problem:  # a store filled before import refused such names: never read outside its folder
            report.failed.append(f"{image.file_name}: {problem}")
        else:
            runnable.append(image)
    pending: list[tuple] = []  # (image id, annotations, revision, instance count)

    def write() -> None:
        conflicts = set(store.save_many([p[:3] for p in pending], author=author, reviewed=False))
        for image_id, _, _, count in pending:
            if image_id in conflicts:
                report.conflicts += 1
            else:
                report.annotated += 1
                report.instances += count
        pending.clear()

    done = len(todo) - len(runnable)
    for index, answer in _stream(folder, [str(im.path) for im in runnable], {}, workers, batch_size):
        image = runnable[index]
        done += 1
        if on_progress is not None:
            on_progress(done, len(todo), image.file_name)
        if isinstance(answer, Exception):
            report.failed.append(f"{image.file_name}: {answer}")
            continue
        try:
            draft = Draft.from_prediction(image, answer[0], list(category_ids))
        except ValueError as exc:  # the photo decodes to another size than the store has
            report.failed.append(f"{image.file_name}: {exc}")
            continue
        pending.append((image.id, draft.new_annotations(category_ids), image.revision, len(draft.kept())))
        if len(pending) >= write_batch:
            write()
    if pending:
        write()
    if on_progress is not None:
        on_progress(len(todo), len(todo), "")
    return report


# ---------------------------------------------------------------- benchmarks (fashionseg bench ...)


def _rate(counts: list[int], seconds: list[float]) -> str:
    rates = np.asarray(counts) / np.asarray(seconds)
    p10, p25, p50, p75, p90 = np.percentile(rates, [10, 25, 50, 75, 90])
    return f"median {p50:8.1f} /s   IQR {p25:.1f}-{p75:.1f}   p10-p90 {p10:.1f}-{p90:.1f}   (n={len(rates)})"


def bench_store_writes(
    location: str, images: int = 256, batch: int = WRITE_BATCH, instances: int = 4, repeat: int = 3
) -> str:
    """The store's write rate as pre-annotation loads it: images saved per second, each with
    ``instances`` model masks (CCP-sized photos, 550 x 825), ``batch`` images per transaction.
    Writes a throwaway data set ``bench-...`` into the store at ``location``."""
    import tempfile

    import cv2
    from PIL import Image
    from sqlalchemy import insert

    from fashionseg.core.masks import encode_rle
    from fashionseg.store import AnnotationStore, NewAnnotation, import_coco
    from fashionseg.store import schema as t
    from fashionseg.store.store import now

    height, width = 825, 550
    rng = np.random.default_rng(0)
    masks = []
    for _ in range(instances * 8):  # ellipses of garment size: RLE about as long as a real mask's
        m = np.zeros((height, width), np.uint8)
        cv2.ellipse(
            m,
            (int(rng.integers(100, 450)), int(rng.integers(100, 700))),
            (int(rng.integers(30, 150)), int(rng.integers(30, 250))),
            float(rng.integers(0, 180)),
            0,
            360,
            1,
            -1,
        )
        masks.append(encode_rle(m.astype(bool)))
    store = AnnotationStore(location)
    lines = [
        f"store {store.location} ({store.engine.dialect.name}): {images} images x {repeat} runs, {instances} masks each, "
        f"{batch} images per transaction"
    ]
    counts, seconds = [], []
    with tempfile.TemporaryDirectory() as folder:
        Image.new("RGB", (width, height)).save(f"{folder}/p.png")
        for run in range(repeat):
            name = f"bench-{now()}-{run}"
            doc = {
                "images": [{"id": 1, "file_name": "p.png", "height": height, "width": width}],
                "annotations": [],
                "categories": [{"id": k, "name": f"c{k}"} for k in range(11)],
            }
            import_coco(store, doc, folder, name)
            # The other images straight into the table: the import checks photo files, the write rate needs none.
            ds = store.dataset_id(name)
            with store.writing() as c:
                c.execute(
                    insert(t.images),
                    [
                        {
                            "dataset_id": ds,
                            "coco_id": k + 2,
                            "file_name": f"p{k}.png",
                            "sha256": "0" * 64,
                            "width": width,
                            "height": height,
                            "split": None,
                            "revision": 0,
                            "reviewed": False,
                        }
                        for k in range(images - 1)
                    ],
                )
            todo = store.images(name)
            for start in range(0, len(todo), batch):
                chunk = todo[start : start + batch]
                saves = [
                    (
                        im.id,
                        [
                            NewAnnotation(int(rng.integers(0, 11)), masks[int(rng.integers(len(masks)))], "model", 0.9)
                            for _ in range(instances)
                        ],
                        im.revision,
                    )
                    for im in chunk
                ]
                began = time.perf_counter()
                store.save_many(saves, author="model:bench")
                seconds.append(time.perf_counter() - began)
                counts.append(len(chunk))
    lines.append(f"  images written {_rate(counts, seconds)}")
    return "\n".join(lines)


def bench_preannotation(weights: str | Path, photos: list[Path], repeat: int = 3, use_ray: bool = False) -> str:
    """Photos per second from file to instances: one process (model loaded once, warm), or the Ray
    cluster (:func:`start_ray` first; each run starts its workers, as a command does)."""
    folder = check_model(weights)
    paths = [str(p) for p in photos]
    counts, seconds = [], []
    if use_ray:
        import ray

        cpus = int(ray.cluster_resources().get("CPU", 1))
        label = f"Ray, {cpus} CPUs, {cpus} workers (one ONNX thread each)"
        steady_counts, steady_seconds, startups = [], [], []
        for _ in range(repeat):
            began, first = time.perf_counter(), None
            for _index, answer in _stream(folder, paths, {}, None, PREDICT_BATCH):
                if isinstance(answer, Exception):
                    raise answer
                first = first or time.perf_counter()
            seconds.append(time.perf_counter() - began)
            counts.append(len(paths))
            startups.append(first - began)
            steady_counts.append(len(paths) - 1)
            steady_seconds.append(seconds[-1] - startups[-1])
        # Workers start (model loaded) once per run: the steady rate is what a long run converges to.
        return (
            f"{folder.name}, {len(paths)} photos x {repeat} runs, {label}\n  photos {_rate(counts, seconds)}   (whole run)\n"
            f"  photos {_rate(steady_counts, steady_seconds)}   (after the first result; start-up median "
            f"{np.median(startups):.1f} s)"
        )
    else:
        from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

        segmenter = InstanceSegmenter.load(folder, "onnx")
        segmenter.warm_up()
        label = "one process (ONNX Runtime, its default threads)"
        for _ in range(repeat):
            began = time.perf_counter()
            for path in paths:
                segmenter.predict(path)
            seconds.append(time.perf_counter() - began)
            counts.append(len(paths))
    return f"{folder.name}, {len(paths)} photos x {repeat} runs, {label}\n  photos {_rate(counts, seconds)}"
