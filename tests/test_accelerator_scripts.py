"""scripts/shrink_coco.py and scripts/accelerator_finetune.py: what travels to the GPU machine and comes back."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from fashionseg.core.coco import validate_coco
from fashionseg.core.masks import decode_rle, encode_rle
from fashionseg.core.split import split_of

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_script", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_coco(folder: Path) -> dict:
    """One 200 x 100 portrait with a rectangle instance and one 40 x 200 photo with a 1-px instance."""
    (folder / "a.png").parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((200, 100, 3), 120, np.uint8)).save(folder / "a.png")
    Image.fromarray(np.full((40, 200, 3), 60, np.uint8)).save(folder / "b.png")
    big = np.zeros((200, 100), bool)
    big[40:120, 20:80] = True
    sliver = np.zeros((40, 200), bool)
    sliver[5, 5] = True
    return {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 200, "width": 100, "split": "train"},
            {"id": 2, "file_name": "b.png", "height": 40, "width": 200, "split": "val"},
        ],
        "categories": [{"id": 0, "name": "shirt, blouse", "supercategory": "upper"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 0, "segmentation": encode_rle(big), "area": 4800,
             "bbox": [20, 40, 60, 80], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 0, "segmentation": encode_rle(sliver), "area": 1,
             "bbox": [5, 5, 1, 1], "iscrowd": 0},
        ],
    }  # fmt: skip


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_photos_and_masks_shrink_together(tmp_path, suffix):
    script = load_script("shrink_coco")
    coco = tiny_coco(tmp_path / "in")
    out = script.shrink_coco(coco, tmp_path / "in", tmp_path / "out", max_side=50, quality=80, suffix=suffix)
    validate_coco(out, "shrunk")
    first, second = out["images"]
    assert (first["height"], first["width"], first["file_name"]) == (50, 25, f"a{suffix}")
    assert Image.open(tmp_path / "out" / "photos" / first["file_name"]).size == (25, 50)
    # the rectangle keeps its place and proportions at a quarter of the size
    (ann,) = [a for a in out["annotations"] if a["image_id"] == 1]
    mask = decode_rle(ann["segmentation"])
    assert mask.shape == (50, 25) and ann["area"] == int(mask.sum()) == 20 * 15
    assert ann["bbox"] == [5.0, 10.0, 15.0, 20.0]
    # the 1-px instance vanishes at a quarter of its photo's size: dropped, not kept empty
    assert (second["height"], second["width"]) == (10, 50) and not [a for a in out["annotations"] if a["image_id"] == 2]
    assert [im["split"] for im in out["images"]] == ["train", "val"]


def test_the_split_is_written_out_and_names_may_not_collide(tmp_path):
    script = load_script("shrink_coco")
    coco = tiny_coco(tmp_path / "in")
    for im in coco["images"]:
        del im["split"]  # then the split follows from the file name, which the new suffix changes
    out = script.shrink_coco(coco, tmp_path / "in", tmp_path / "out", max_side=50, quality=80, suffix=".webp")
    assert [im["split"] for im in out["images"]] == [split_of({"file_name": n}) for n in ("a.png", "b.png")]
    Image.open(tmp_path / "in" / "a.png").save(tmp_path / "in" / "a.jpg")
    coco["images"][1] = {**coco["images"][1], "file_name": "a.jpg", "height": 200, "width": 100}
    with pytest.raises(ValueError, match=re.escape("a.jpg and a.png would both be written as a.webp")):
        script.shrink_coco(coco, tmp_path / "in", tmp_path / "out2", max_side=50, quality=80, suffix=".webp")


def test_photos_smaller_than_the_limit_are_only_re_encoded(tmp_path):
    script = load_script("shrink_coco")
    coco = tiny_coco(tmp_path / "in")
    out = script.shrink_coco(coco, tmp_path / "in", tmp_path / "out", max_side=400, quality=90)
    assert [(im["height"], im["width"]) for im in out["images"]] == [(200, 100), (40, 200)]
    assert len(out["annotations"]) == 2
    assert decode_rle(out["annotations"][1]["segmentation"]).sum() == 1


def weights_file(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["note"] = "keras"
        layer = f.create_group("layers/dense/vars")
        layer.attrs["kind"] = "dense"
        layer.create_dataset("0", data=np.array([[1.0, 2.5e-4], [3.0, -7.0]], np.float32))
        layer.create_dataset("1", data=np.array([5, 6], np.int64))


def test_the_initial_weights_travel_at_half_size_and_come_back_as_float32(tmp_path):
    script = load_script("accelerator_finetune")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"BACKBONE": "mobilenet_v2"}))
    weights_file(model / "model.weights.h5")
    half = script.cast_copy(model, tmp_path / "half", "float32", "float16")
    back = script.cast_copy(half, tmp_path / "back", "float16", "float32")
    assert json.loads((back / "config.json").read_text()) == {"BACKBONE": "mobilenet_v2"}
    with h5py.File(half / "model.weights.h5") as h, h5py.File(back / "model.weights.h5") as b:
        assert h["layers/dense/vars/0"].dtype == np.float16 and b["layers/dense/vars/0"].dtype == np.float32
        np.testing.assert_allclose(b["layers/dense/vars/0"][()], [[1.0, 2.5e-4], [3.0, -7.0]], rtol=1e-3)
        assert b["layers/dense/vars/1"].dtype == np.int64  # only the named float type is cast
        assert b.attrs["note"] == "keras" and b["layers/dense/vars"].attrs["kind"] == "dense"


def test_the_run_names_the_packed_weights_as_its_start_not_the_float32_copy(tmp_path):
    script = load_script("accelerator_finetune")
    model, init, run = tmp_path / "weights" / "m", tmp_path / "init", tmp_path / "run"
    model.mkdir(parents=True)
    run.mkdir()
    weights_file(model / "model.weights.h5")
    init.mkdir()
    source = script.describe_source(model, init)
    assert source["sha256"] == hashlib.sha256((model / "model.weights.h5").read_bytes()).hexdigest()
    assert source["weights"] == str(model / "model.weights.h5")
    (run / "run.json").write_text(json.dumps({"settings": {"init_weights": "/tmp/accelerator/init/model.weights.h5"}}))
    script.record_source(run, init)
    named = json.loads((run / "run.json").read_text())["settings"]["init_weights"]
    assert named.startswith(f"{model / 'model.weights.h5'} (") and source["sha256"][:12] in named
    assert "carried as float16" in named


def test_a_run_without_source_json_keeps_its_start_weights(tmp_path):
    script = load_script("accelerator_finetune")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(json.dumps({"settings": {"init_weights": "/x.h5"}}))
    script.record_source(tmp_path / "run", tmp_path / "init")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"]["init_weights"] == "/x.h5"


def collected(tmp_path, monkeypatch, size: int = 2500) -> tuple[object, Path, bytes]:
    script = load_script("accelerator_finetune")
    monkeypatch.setattr(script, "PART_BYTES", 100)
    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    data = np.random.default_rng(0).bytes(size)
    (run / "best.weights.h5").write_bytes(data)
    (run / "log.csv").write_text("epoch,seconds\n1,24.0\n")
    script.collect(run, out)
    return script, out, data


def test_weights_come_back_in_parts_and_are_joined(tmp_path, monkeypatch):
    script, out, data = collected(tmp_path, monkeypatch)
    parts = sorted(out.glob("best.weights.h5.part*"))
    assert len(parts) == 25 and all(p.stat().st_size == 100 for p in parts)  # part10 after part9 on joining
    assert json.loads((out / "parts.json").read_text())["best.weights.h5"]["parts"] == 25
    script.join(out)
    assert (out / "best.weights.h5").read_bytes() == data
    assert script.epoch_seconds(out) == [24.0]


def test_a_missing_or_changed_part_is_refused(tmp_path, monkeypatch):
    script, out, _ = collected(tmp_path, monkeypatch)
    (out / "best.weights.h5.part7").unlink()
    with pytest.raises(ValueError, match=re.escape("parts missing: best.weights.h5.part7")):
        script.join(out)
    (out / "best.weights.h5.part7").write_bytes(bytes(100))  # a part of another file
    with pytest.raises(ValueError, match="not the file that was split"):
        script.join(out)
    assert not (out / "best.weights.h5").exists()


def test_training_stopped_at_the_deadline_takes_its_loader_processes_with_it(tmp_path):
    script = load_script("accelerator_finetune")
    pid_file = tmp_path / "child.pid"
    trainer = (
        "import subprocess, sys, time; "
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(60)"
    )
    assert script.run_training([sys.executable, "-c", trainer], 2) == script.STOPPED_AT_DEADLINE
    child = int(pid_file.read_text())
    for _ in range(50):  # reaped by init once killed
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the trainer's child process outlived the deadline")


def test_the_probe_uses_a_small_part_of_both_splits(tmp_path):
    script = load_script("accelerator_finetune")
    images = [{"id": i, "split": "train" if i < 10 else "val"} for i in range(14)]
    annotations = [{"id": i, "image_id": i} for i in range(14)]
    source = {"images": images, "annotations": annotations, "categories": []}
    subset = json.loads(script.probe_subset(source, tmp_path / "probe.json", 3, 2).read_text())
    assert [im["id"] for im in subset["images"]] == [0, 1, 2, 10, 11]
    assert [a["image_id"] for a in subset["annotations"]] == [0, 1, 2, 10, 11]
    assert script.split_counts(source) == (10, 4)


def test_the_epoch_planned_grows_with_repeat_factor_sampling():
    script = load_script("accelerator_finetune")
    images = [{"id": i, "split": "train" if i < 8 else "val"} for i in range(10)]
    # every training photo has class 8 (COCO id); photo 0 also class 7, held by one of eight
    annotations = [{"id": i, "image_id": i, "category_id": 8} for i in range(10)]
    annotations.append({"id": 10, "image_id": 0, "category_id": 7})
    source = {"images": images, "annotations": annotations, "categories": []}
    assert script.photos_an_epoch(source, None, 12) == 8
    assert script.photos_an_epoch(source, 0.5, 12) == 9  # photo 0 twice: sqrt(0.5 / (1 / 8)) = 2


def test_the_training_command_carries_the_photos_per_step(tmp_path):
    script = load_script("accelerator_finetune")
    (tmp_path / "config.json").write_text(json.dumps({"IMAGES_PER_GPU": 4}))
    common = dict(images=Path("p"), init=tmp_path, init_fp32=tmp_path, learning_rate=0.002, workers=12)
    args = argparse.Namespace(**common, final_learning_rate=0.0002, images_per_step=None)
    assert script.images_per_step(args) == 4  # the start model's
    command = script.train_command(args, Path("i.json"), Path("run"), 6, None)
    assert "--images-per-step" not in command and command[command.index("--all-epochs") + 1] == "6"
    args.images_per_step = 8
    assert script.images_per_step(args) == 8
    command = script.train_command(args, Path("i.json"), Path("run"), 6, 100)
    assert command[-4:] == ["--steps-per-epoch", "100", "--images-per-step", "8"]
    args.crop_anchor_weights = [0.45, 0.15, 0.4]  # forwarded as given
    command = script.train_command(args, Path("i.json"), Path("run"), 6, None)
    assert command[-4:] == ["--crop-anchor-weights", "0.45", "0.15", "0.4"] and "--framing-weights" not in command
    args.repeat_factor_threshold = 0.3
    command = script.train_command(args, Path("i.json"), Path("run"), 6, None)
    assert command[-2:] == ["--repeat-factor-threshold", "0.3"]
