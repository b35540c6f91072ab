"""The resumable training run both models share (fashionseg.models.run): interrupted after an epoch,
a run resumes after its last finished epoch, and its log goes on with each epoch once."""

import csv
import json
from dataclasses import dataclass

import keras
import numpy as np
import pytest

from fashionseg.models.model_folder import ModelConfig
from fashionseg.models.run import LOG_FILE, Monitor, TrainingRun, training_hardware


@dataclass
class ToyConfig(ModelConfig):
    KIND = "toy"
    RETIRED = ("OLD",)

    units: int = 2


class Interrupted(Exception):
    pass


def interrupt_at_epoch(monkeypatch, epoch: int) -> None:
    """Fail the first time ``state.json`` would record ``epoch``: after that epoch's checkpoint and log row
    were written, before its state was (the last moment an interruption can come)."""
    real = TrainingRun.save_state
    fired = []

    def save_state(self):
        if self.state.get("epoch") == epoch and not fired:
            fired.append(epoch)
            raise Interrupted
        real(self)

    monkeypatch.setattr(TrainingRun, "save_state", save_state)


def log_epochs(folder) -> list[int]:
    with open(folder / LOG_FILE, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def train_toy(folder, epochs: int, config: ToyConfig | None = None) -> dict:
    config = config or ToyConfig()
    run = TrainingRun(
        folder, Monitor("val_loss", "best_val_loss"), ("epoch", "loss", "val_loss", "learning_rate", "seconds")
    )
    state = run.start(config, {"settings": {"epochs": epochs}})
    if (folder / "last.keras").exists():
        model = keras.models.load_model(folder / "last.keras")
    else:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(config.units), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    checkpoint = run.checkpoint(lambda m: run.replace_atomically("last.keras", lambda path: m.save(str(path))))
    model.fit(
        x, y, validation_data=(x, y), epochs=epochs, initial_epoch=state["epoch"], callbacks=[checkpoint], verbose=0
    )
    return run.finish()


@pytest.mark.slow
def test_a_run_resumes_after_its_last_finished_epoch_and_its_log_goes_on(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(Interrupted):
        train_toy(folder, 3)
    assert json.loads((folder / "state.json").read_text())["epoch"] == 1
    assert log_epochs(folder) == [1, 2]  # epoch 2's row got written, its state did not

    state = train_toy(folder, 3)
    assert state["epoch"] == 3 and state["finished"] and 1 <= state["best_epoch"] <= 3
    assert log_epochs(folder) == [1, 2, 3]
    assert (folder / "best.weights.h5").is_file() and not list(folder.glob("*.tmp.*"))
    assert json.loads((folder / "run.json").read_text()) == {
        "config": {"units": 2},
        "hardware": training_hardware(),  # resumed on the same machine: named once
        "settings": {"epochs": 3},
    }

    # More epochs later: the run goes on; with none left to train it stays as it is.
    assert train_toy(folder, 4)["epoch"] == 4 and log_epochs(folder) == [1, 2, 3, 4]
    assert train_toy(folder, 4)["epoch"] == 4 and log_epochs(folder) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="different model config"):
        train_toy(folder, 5, ToyConfig(units=3))


def test_a_runs_best_weights_carry_no_optimizer_state_and_load_into_a_bare_model(tmp_path):
    import h5py

    folder = tmp_path / "run"
    train_toy(folder, 2)
    with h5py.File(folder / "best.weights.h5") as saved:
        assert "optimizer" not in saved  # Keras' own save_weights of the compiled model writes one
    bare = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    bare.load_weights(folder / "best.weights.h5")
    trained = keras.models.load_model(folder / "last.keras")
    assert all(w.shape == v.shape for w, v in zip(bare.get_weights(), trained.get_weights(), strict=True))


def test_an_export_after_an_interruption_holds_only_finished_epochs(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(Interrupted):
        train_toy(folder, 3)
    run = TrainingRun(
        folder, Monitor("val_loss", "best_val_loss"), ("epoch", "loss", "val_loss", "learning_rate", "seconds")
    )
    (folder / "best.weights.h5").write_bytes(b"weights")  # what export copies is not the point here
    out = run.export(tmp_path / "model", ToyConfig())
    with open(out / "training_log.csv", newline="") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [1]
    assert json.loads((out / "training.json").read_text())["epochs_trained"] == 1


def test_the_record_names_where_the_run_trained_not_where_it_was_exported(tmp_path):
    folder = tmp_path / "run"
    train_toy(folder, 1)
    recorded = json.loads((folder / "run.json").read_text())["hardware"]
    assert recorded == training_hardware() and f"Keras {keras.__version__} on {keras.backend.backend()} " in recorded
    # a run trained elsewhere (the GPU machine) and exported here keeps its own record
    run_json = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**run_json, "hardware": "x86_64, 16 CPU cores, NVIDIA H200"}))
    train_toy(folder, 2)  # and resumed here, it names both, each once
    train_toy(folder, 3)
    assert json.loads((folder / "run.json").read_text())["hardware"] == (
        f"x86_64, 16 CPU cores, NVIDIA H200; resumed on {training_hardware()}"
    )
    run = TrainingRun(
        folder, Monitor("val_loss", "best_val_loss"), ("epoch", "loss", "val_loss", "learning_rate", "seconds")
    )
    (folder / "best.weights.h5").write_bytes(b"weights")
    out = run.export(tmp_path / "model", ToyConfig())
    assert json.loads((out / "training.json").read_text())["hardware"].startswith("x86_64, 16 CPU cores, NVIDIA H200;")


def test_a_config_built_with_lists_is_the_run_it_saved(tmp_path):
    """The CLI sets the classic U-Net's mean and std from argument lists; read back from run.json they are
    tuples, and the run must still resume."""
    from fashionseg.models.unet.model import UNetConfig

    config = UNetConfig(architecture="classic", input_size=64)
    config.mean, config.std = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
    for _ in range(2):
        TrainingRun(tmp_path / "run", Monitor("val_loss", "best_val_loss"), ("epoch", "loss")).start(config, {})
    with pytest.raises(ValueError, match="different model config"):
        config.std = [0.3, 0.3, 0.3]
        TrainingRun(tmp_path / "run", Monitor("val_loss", "best_val_loss"), ("epoch", "loss")).start(config, {})


def test_the_monitor_picks_the_best_epoch_either_way():
    lowest, highest = (
        Monitor("val_loss", "best_val_loss"),
        Monitor("val_dice", "best_val_dice", "max", 0.01, initial=-1.0),
    )
    assert (lowest.start(), highest.start()) == (float("inf"), -1.0)
    assert lowest.improves(0.5, 0.6) and not lowest.improves(0.6, 0.6) and not lowest.improves(float("nan"), 0.6)
    assert highest.improves(0.62, 0.6) and not highest.improves(0.605, 0.6)
    with pytest.raises(ValueError, match="mode"):
        Monitor("a", "b", "largest")


def test_configs_share_one_convention_and_read_retired_settings(tmp_path):
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.models.unet.model import UNetConfig

    for config in (MaskRCNNConfig(), UNetConfig(), ToyConfig()):
        kind = type(config)
        assert kind.from_dict(config.to_dict()) == config and kind.from_json(config.to_json()) == config
        config.save(tmp_path / "config.json")
        assert kind.load(tmp_path / "config.json") == config
        with pytest.raises(ValueError, match=f"unknown {kind.KIND} settings: GPU_COUNT"):
            kind.from_dict({"GPU_COUNT": 1})
    old = {**MaskRCNNConfig().to_dict(), "NAME": "fashion", "USE_MINI_MASK": True}  # as saved before #13
    assert MaskRCNNConfig.from_dict(old) == MaskRCNNConfig()
    assert ToyConfig.from_dict({"OLD": 1, "units": 4}) == ToyConfig(units=4)


@pytest.mark.slow
@pytest.mark.slow
def test_unet_run_resumes_after_an_interruption(tmp_path, monkeypatch):
    from test_unet import make_cutout_folder

    from fashionseg.models.unet.data import examples_from_cutouts
    from fashionseg.models.unet.model import UNetConfig
    from fashionseg.models.unet.train import TrainSettings, train_unet

    photos, cutouts = make_cutout_folder(tmp_path, 6)
    examples = examples_from_cutouts(photos, cutouts)
    config = UNetConfig(architecture="classic", input_size=32, base_filters=4, depth=2, mean=(128,) * 3, std=(64,) * 3)
    settings = TrainSettings(epochs=3, batch_size=3, patience=10, validation_variants=(), augment=False)
    run = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(Interrupted):
        train_unet(config, settings, examples[:4], examples[4:], run, progress=False)
    assert log_epochs(run) == [1, 2]
    state = train_unet(config, settings, examples[:4], examples[4:], run, progress=False)
    assert state["epoch"] == 3 and state["finished"] and log_epochs(run) == [1, 2, 3]
    assert set(state) >= {"best_val_dice", "best_epoch", "wait", "stopped_early", "threshold", "seconds"}


@pytest.mark.slow
@pytest.mark.slow
def test_maskrcnn_run_resumes_after_an_interruption_with_its_optimizer(tmp_path, monkeypatch):
    from test_maskrcnn_model import tiny_config, write_synthetic_set

    from fashionseg.models import run as run_module
    from fashionseg.models.maskrcnn.data import examples_from_coco
    from fashionseg.models.maskrcnn.train import TrainSettings, train_maskrcnn

    instances, photos = write_synthetic_set(tmp_path)
    train, val = examples_from_coco(instances, photos, "train"), examples_from_coco(instances, photos, "val")
    settings = TrainSettings(heads_epochs=2, all_epochs=0, steps_per_epoch=1)
    run = tmp_path / "run"
    interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(Interrupted):
        train_maskrcnn(tiny_config(), settings, train, val, run, progress=False)
    assert log_epochs(run) == [1, 2] and (run / "last_optimizer.npz").is_file()

    restored = []
    real = run_module.restore_optimizer
    monkeypatch.setattr(
        "fashionseg.models.maskrcnn.train.restore_optimizer", lambda *args: restored.append(True) or real(*args)
    )
    state = train_maskrcnn(tiny_config(), settings, train, val, run, progress=False)
    assert restored and state["epoch"] == 2 and state["stage"] == "heads" and state["finished"]
    assert log_epochs(run) == [1, 2]
    with open(run / LOG_FILE, newline="") as f:
        assert [row["stage"] for row in csv.DictReader(f)] == ["heads", "heads"]
