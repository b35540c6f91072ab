"""Fine-tune the Mask R-CNN on the accelerator machine within a fixed time, and bring the result back.

The device tool lends a GPU machine for a few minutes a session, with no
TensorFlow there (the models are ``keras.ops`` only, so they train on JAX) and
at most 16 MiB a file coming back. This driver:

1. turns the carried float16 initial weights back into float32 (they travel
   at half size; fine-tuning starts from them);
2. unless ``--epochs`` is given, times a short probe run (same data, same
   workers) to learn the step time, then chooses how many epochs fit the time
   left, so the learning-rate schedule runs to its end instead of being cut off;
3. runs ``fashionseg train maskrcnn`` (resumable, one checkpoint per epoch);
4. copies the run's log and state and its best and last weights, split into
   parts under 16 MiB, into ``--out``.

Run on the device machine from the repository root, after installing the
carried wheels (``.whl``) and with the shrunk data (``scripts/shrink_coco.py``)
in ``.gpu``::

    KERAS_BACKEND=jax python3 scripts/accelerator_finetune.py --instances .gpu/ccp/instances.json \
        --images .gpu/ccp/photos --init .gpu/init --out "$OUT" --deadline 480

Before, ``--pack WEIGHTS_DIR .gpu/init`` writes the float16 copy of the model to start from,
with ``source.json`` naming the folder, commit and SHA-256 it came from (the run records that as
its start weights instead of the float32 copy under ``--work``); after, back here, ``--join DIR``
puts the weight parts together again.

What comes back (the tool returns at most 8 files): ``run.json``,
``state.json``, ``log.csv``, ``parts.json`` (each weights file's size, parts
and SHA-256, checked by ``--join``) and the best and last weights in two parts
each. ``--work`` is cleared first: every call trains afresh.

Measured on an NVIDIA H200 (16 cores, JAX 0.11.2, 12 loader workers, 2 photos a
step, 1,118 training photos): 25-32 s an epoch (about 45 photos a second,
against 2.4 on the 2-core CPU here, 4.5 min for an epoch of 651), plus about
40 s loading the photos and 40-60 s compiling.
On an NVIDIA H100: 36-43 s an epoch of 1,367 photos (repeat-factor sampling), 148 s for the
first with loading and compiling. The commands that made
``weights/maskrcnn_mobilenet_v2_512_robust5`` (40-44 s an epoch) are in its model card
(``git show 76b4b70:weights/maskrcnn_mobilenet_v2_512_robust5/MODEL_CARD.md``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from fashionseg.cli.options import fraction, non_negative
from fashionseg.core.coco import annotations_by_image
from fashionseg.core.files import write_json_atomic
from fashionseg.core.split import select_split
from fashionseg.models.maskrcnn.sampling import epoch_length, repeat_factors

PART_BYTES = 15 * 2**20  # under the tool's 16 MiB a file
MANIFEST = "parts.json"
SOURCE = "source.json"
WEIGHT_FILES = ("best.weights.h5", "last.weights.h5")
# A validation step is a forward pass only: about a third of a training step's time.
VALIDATION_STEP_COST = 1 / 3
PROBE_VAL_PHOTOS = 8
START = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - START:6.1f} s] {message}", flush=True)


def cast_copy(init_dir: Path, out_dir: Path, source_dtype: str, target_dtype: str) -> Path:
    """A model folder's config.json and model.weights.h5 with every ``source_dtype`` array cast to ``target_dtype``."""
    import h5py
    import numpy as np

    source, target = np.dtype(source_dtype), np.dtype(target_dtype)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(init_dir / "config.json", out_dir / "config.json")
    with h5py.File(init_dir / "model.weights.h5", "r") as src, h5py.File(out_dir / "model.weights.h5", "w") as dst:
        dst.attrs.update(src.attrs)

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                dst.require_group(name).attrs.update(obj.attrs)
                return
            data = obj[()]
            if data.dtype == source:
                data = data.astype(target)
                if not np.isfinite(data).all():  # beyond float16's range (65504) a weight would become inf
                    raise ValueError(f"{name}: values do not fit {target_dtype}")
            dst.create_dataset(name, data=data).attrs.update(obj.attrs)

        src.visititems(copy)
    return out_dir


def describe_source(weights_dir: Path, init_dir: Path) -> dict:
    """Writes ``init_dir/source.json``: which weights the float16 copy is of (folder, commit, SHA-256)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=weights_dir, check=False
    ).stdout.strip()
    source = {
        "weights": str(weights_dir / "model.weights.h5"),
        "commit": commit or None,
        "sha256": hashlib.sha256((weights_dir / "model.weights.h5").read_bytes()).hexdigest(),
    }
    write_json_atomic(init_dir / SOURCE, source)
    return source


def record_source(run: Path, init_dir: Path) -> None:
    """Names the packed weights (``source.json``) as the run's start weights in its ``run.json``."""
    if not (init_dir / SOURCE).is_file() or not (run / "run.json").is_file():
        return
    source = json.loads((init_dir / SOURCE).read_text())
    commit = f"git {source['commit']}, " if source.get("commit") else ""
    described = json.loads((run / "run.json").read_text())
    described["settings"]["init_weights"] = (
        f"{source['weights']} ({commit}sha256 {source['sha256'][:12]}), carried as float16 "
        "(scripts/accelerator_finetune.py --pack)"
    )
    write_json_atomic(run / "run.json", described)


def probe_subset(coco: dict, out: Path, train_photos: int, val_photos: int) -> Path:
    """The first ``train_photos`` training and ``val_photos`` validation photos of ``coco`` written to
    ``out`` (the project's split rule: a photo's ``split`` field, else its file name's hash)."""
    train = select_split(coco["images"], "train")[:train_photos]
    val = select_split(coco["images"], "val")[:val_photos]
    keep = {im["id"] for im in train + val}
    subset = {**coco, "images": train + val, "annotations": [a for a in coco["annotations"] if a["image_id"] in keep]}
    out.write_text(json.dumps(subset))
    return out


def split_counts(coco: dict) -> tuple[int, int]:
    return len(select_split(coco["images"], "train")), len(select_split(coco["images"], "val"))


def photos_an_epoch(coco: dict, repeat_threshold: float | None, num_classes: int) -> int:
    """Training photos an epoch shows: each once, or with repeat-factor sampling the factors' sum."""
    train = select_split(coco["images"], "train")
    if not repeat_threshold:
        return len(train)
    per_image = annotations_by_image(coco)
    # COCO ids are 0-based, the trainer's class ids 1-based (0 is the background)
    classes = [[a["category_id"] + 1 for a in per_image.get(im["id"], [])] for im in train]
    return epoch_length(repeat_factors(classes, repeat_threshold, num_classes))


def images_per_step(args) -> int:
    """Photos a step: ``--images-per-step``, else the start model's ``IMAGES_PER_GPU``."""
    return args.images_per_step or int(json.loads((args.init / "config.json").read_text()).get("IMAGES_PER_GPU", 2))


def train_command(args, instances: Path, run: Path, epochs: int, steps: int | None) -> list[str]:
    command = [
        sys.executable, "-m", "fashionseg", "train", "maskrcnn",
        "--instances", str(instances), "--images", str(args.images), "--run", str(run),
        "--init-from", str(args.init_fp32), "--heads-epochs", "0", "--all-epochs", str(epochs),
        "--all-learning-rate", str(args.learning_rate), "--all-final-learning-rate", str(args.final_learning_rate),
        "--workers", str(args.workers), "--quiet",
    ]  # fmt: skip
    if steps:
        command += ["--steps-per-epoch", str(steps)]
    if args.images_per_step:
        command += ["--images-per-step", str(args.images_per_step)]
    for option in ("framing_weights", "crop_anchor_weights", "repeat_factor_threshold"):
        value = getattr(args, option, None)
        if value:
            command += [
                "--" + option.replace("_", "-"),
                *(str(v) for v in (value if isinstance(value, list) else [value])),
            ]
    return command


def epoch_seconds(run: Path) -> list[float]:
    with open(run / "log.csv") as f:
        return [float(row["seconds"]) for row in csv.DictReader(f)]


def collect(run: Path, out: Path) -> None:
    """The run's small files and its weights (in parts, with ``parts.json``) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("run.json", "state.json", "log.csv"):
        if (run / name).exists():
            shutil.copy(run / name, out / name)
    manifest = {}
    for name in WEIGHT_FILES:
        path = run / name
        if not path.exists():
            continue
        data = path.read_bytes()
        parts = math.ceil(len(data) / PART_BYTES)
        for i in range(parts):
            (out / f"{name}.part{i}").write_bytes(data[i * PART_BYTES : (i + 1) * PART_BYTES])
        manifest[name] = {"bytes": len(data), "parts": parts, "sha256": hashlib.sha256(data).hexdigest()}
    write_json_atomic(out / MANIFEST, manifest)
    log(f"collected: {sorted(p.name for p in out.iterdir())}")


def join(folder: Path) -> None:
    """Back here: ``*.weights.h5.partN`` -> ``*.weights.h5`` in ``folder``, checked against ``parts.json``.

    Raises:
        ValueError: a part is missing, or the joined file is not the one that was split.
    """
    manifest = json.loads((folder / MANIFEST).read_text())
    for name, expected in manifest.items():
        parts = [folder / f"{name}.part{i}" for i in range(expected["parts"])]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise ValueError(f"{name}: parts missing: {', '.join(missing)}")
        data = b"".join(p.read_bytes() for p in parts)
        if len(data) != expected["bytes"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
            raise ValueError(f"{name}: the joined parts are not the file that was split (size or SHA-256 differ)")
        (folder / name).write_bytes(data)
        print(f"{name}: {len(parts)} parts joined, SHA-256 checked")


STOPPED_AT_DEADLINE = -1


def run_training(command: list[str], seconds_left: float) -> int:
    """Runs ``command`` in its own process group; at the deadline the whole group (the trainer and its
    loader processes) is stopped and ``STOPPED_AT_DEADLINE`` returned."""
    log(" ".join(command))
    process = subprocess.Popen(command, start_new_session=True)
    try:
        return process.wait(timeout=max(seconds_left, 1))
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        log("stopped at the deadline (the last finished epoch is kept)")
        return STOPPED_AT_DEADLINE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--join", type=Path, help="here, after the run: join the weight parts in this folder")
    parser.add_argument(
        "--pack", nargs=2, type=Path, metavar=("WEIGHTS_DIR", "INIT_DIR"), help="here, before: float16 copy to carry"
    )
    parser.add_argument("--instances", type=Path)
    parser.add_argument("--images", type=Path)
    parser.add_argument("--init", type=Path, help="config.json + float16 model.weights.h5")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/accelerator"), help="cleared first")
    parser.add_argument("--deadline", type=float, default=480, help="seconds from start for all of it")
    parser.add_argument("--collect-seconds", type=float, default=25, help="kept at the end to copy the results")
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--learning-rate", type=float, default=0.002)
    parser.add_argument("--final-learning-rate", type=float, default=0.0002)
    # Each epoch starts its loader workers: a short probe epoch overstates the step time (on the H200:
    # 40 steps in 3.7 s, 93 ms a step; a 559-step epoch took 24-28 s, 45-50 ms a step).
    parser.add_argument("--probe-steps", type=int, default=120)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument(
        "--epochs", type=int, help="this many epochs, no probe (when an earlier call measured the epoch time)"
    )
    parser.add_argument("--steps-per-epoch", type=int, help="main run: steps per epoch (default: one pass)")
    parser.add_argument(
        "--images-per-step",
        type=int,
        help="photos a step (default: the start model's); scale the learning rate with it",
    )
    parser.add_argument("--framing-weights", type=non_negative, nargs=4, help="as 'fashionseg train maskrcnn' takes it")
    parser.add_argument(
        "--crop-anchor-weights", type=non_negative, nargs=3, help="as 'fashionseg train maskrcnn' takes it"
    )
    parser.add_argument("--repeat-factor-threshold", type=fraction, help="as 'fashionseg train maskrcnn' takes it")
    parser.add_argument("--load-seconds", type=float, default=90, help="estimate: loading photos + compiling")
    args = parser.parse_args()
    if args.join:
        join(args.join)
        return
    if args.pack:
        cast_copy(*args.pack, "float32", "float16")
        describe_source(*args.pack)
        return

    shutil.rmtree(args.work, ignore_errors=True)  # a warm machine keeps /tmp: never resume an old run by accident
    args.work.mkdir(parents=True)
    args.init_fp32 = cast_copy(args.init, args.work / "init", "float16", "float32")
    log("initial weights back to float32")

    if args.epochs:
        epochs = args.epochs
    else:
        epochs = planned_epochs(args)
    run = args.work / "run"
    left = args.deadline - (time.monotonic() - START) - args.collect_seconds
    code = run_training(train_command(args, args.instances, run, epochs, args.steps_per_epoch), left)
    done = epoch_seconds(run) if (run / "log.csv").exists() else []
    log(f"training ended (exit {code}); epochs: {done}")
    record_source(run, args.init)
    collect(run, args.out)
    if code not in (0, STOPPED_AT_DEADLINE) or not done:
        sys.exit(f"training failed (exit {code}, {len(done)} epochs finished)")


def planned_epochs(args) -> int:
    """Times a probe run and returns how many epochs fit the time left."""
    coco = json.loads(args.instances.read_text())
    _, val_photos = split_counts(coco)
    num_classes = int(json.loads((args.init / "config.json").read_text())["NUM_CLASSES"])
    epoch_photos = photos_an_epoch(coco, args.repeat_factor_threshold, num_classes)
    batch = images_per_step(args)
    probe_json = probe_subset(coco, args.work / "probe.json", batch * args.probe_steps, PROBE_VAL_PHOTOS)
    probe = args.work / "probe"
    code = run_training(train_command(args, probe_json, probe, 2, args.probe_steps), args.deadline / 2)
    seconds = epoch_seconds(probe) if (probe / "log.csv").exists() else []
    if code != 0 or len(seconds) < 2:
        log(f"probe failed (exit {code}, epochs {seconds}); nothing else is run")
        collect(probe, args.out / "probe")
        sys.exit(1)
    # The probe's second epoch is compiled already: its time per training step, its validation included.
    per_step = seconds[1] / (args.probe_steps + math.ceil(PROBE_VAL_PHOTOS / batch) * VALIDATION_STEP_COST)
    steps = args.steps_per_epoch or math.ceil(epoch_photos / batch)
    epoch = per_step * (steps + math.ceil(val_photos / batch) * VALIDATION_STEP_COST)
    left = args.deadline - (time.monotonic() - START) - args.collect_seconds - args.load_seconds
    epochs = max(1, min(args.max_epochs, int(left // epoch)))
    log(f"probe: {seconds} s per epoch; {per_step * 1000:.0f} ms a step; {epoch:.0f} s an epoch -> {epochs} epochs")
    return epochs


if __name__ == "__main__":
    main()
