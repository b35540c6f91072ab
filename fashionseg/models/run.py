"""One resumable training run for both models: the run folder, its per-epoch checkpoint, and its export.

A run folder holds everything needed to go on after an interruption:

- ``run.json``: the model config (``config``), what the run was asked to do
  (settings, photo counts) and where it trained (``hardware``: processor,
  cores, the Keras backend and its accelerator, see :func:`training_hardware`;
  each machine it was resumed on).
  Rewritten at every start, since settings (more epochs) may change between
  resumes; the model config may not.
- ``state.json``: epochs finished (``epoch``), the best value of the monitored
  validation metric (``best_val_loss`` or ``best_val_dice``) and its epoch
  (``best_epoch``), epochs since then (``wait``), training ``seconds``,
  ``finished``, and the model's own entries.
- ``log.csv``: one row per finished epoch (losses and metrics on the training
  and the validation photos, learning rate, seconds); the loss curves of the
  dashboard and the model cards are drawn from it.
- ``best.weights.h5``: the weights of the best epoch so far.
- the model's own last checkpoint, written after every epoch (U-Net:
  ``last.keras``, model and optimizer; Mask R-CNN: ``last.weights.h5`` and
  ``last_optimizer.npz``).

After every epoch :class:`EpochCheckpoint` writes, in this order, the best
weights (when the epoch was the best so far) and the last checkpoint (each
atomically: a file is complete or not there), the log row, then ``state.json``,
the commit point. Running the same command again resumes after the last epoch
``state.json`` records: an interrupted epoch is trained again, and its log row,
if it got that far, is dropped first, so the log holds each epoch once. (Only an
interruption in the moment between the last checkpoint's and the state's
writes leaves a checkpoint one epoch ahead of the state; that epoch is then
trained again from it. Likewise ``best.weights.h5``: an interruption after it
was replaced but before ``state.json`` leaves it holding the uncommitted
epoch, while the state still names the earlier best; the window is one file
write long.)

A finished run is exported to a model folder (:meth:`TrainingRun.export`):
``config.json``, ``model.weights.h5``, ``training_log.csv`` (the run's log),
``training.json`` (data, epochs, best epoch, time, hardware, where the weights
started from) and, once ``fashionseg export`` has run, ``model.onnx`` (an
export of weights that were replaced is deleted).

Example:
    >>> import tempfile
    >>> run = TrainingRun(tempfile.mkdtemp(), Monitor("val_loss", "best_val_loss"), ("epoch", "loss", "val_loss"))
    >>> state = run.read_state()
    >>> state["epoch"], state["best_val_loss"], state["finished"]
    (0, inf, False)
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from fashionseg.core.files import append_csv_row, write_json_atomic
from fashionseg.exceptions import ModelNotTrainedError
from fashionseg.models.model_folder import CONFIG_FILE, WEIGHTS_FILE
from fashionseg.models.runtime import ONNX_FILE
from fashionseg.settings import project_relative

RUN_FILE = "run.json"
STATE_FILE = "state.json"
LOG_FILE = "log.csv"
BEST_WEIGHTS = "best.weights.h5"
# In an exported model folder:
TRAINING_FILE = "training.json"
TRAINING_LOG_FILE = "training_log.csv"


@dataclass(frozen=True)
class Monitor:
    """The validation metric that picks a run's best epoch (and stops it early, with a patience)."""

    log_key: str  # the Keras logs' name: "val_loss", "val_dice_coefficient"
    state_key: str  # state.json's name for its best value: "best_val_loss", "best_val_dice"
    mode: str = "min"  # "min" or "max"
    min_delta: float = 0.0  # an improvement must be larger than this
    initial: float | None = None  # the best value before any epoch (default: the worst possible)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {self.mode!r}")

    def start(self) -> float:
        if self.initial is not None:
            return self.initial
        return math.inf if self.mode == "min" else -math.inf

    def improves(self, value: float, best: float) -> bool:
        """Whether ``value`` beats ``best`` (by more than ``min_delta``); NaN never does."""
        if not math.isfinite(value):
            return False
        return value < best - self.min_delta if self.mode == "min" else value > best + self.min_delta


class TrainingRun:
    """A run folder (see the module's documentation) of one model.

    ``log_fields`` are the columns of ``log.csv``; ``state_defaults`` the
    model's own ``state.json`` entries before the first epoch.
    """

    def __init__(
        self, folder: str | Path, monitor: Monitor, log_fields: tuple[str, ...], state_defaults: dict | None = None
    ):
        self.folder, self.monitor, self.log_fields = Path(folder), monitor, tuple(log_fields)
        self.state_defaults = dict(state_defaults or {})
        self.state: dict = {}

    def path(self, name: str) -> Path:
        return self.folder / name

    # Training.

    def start(self, config, description: dict) -> dict:
        """Open the run for training and return its state (``self.state``, updated in place by the checkpoint).

        Checks that ``config`` (a model config: ``to_dict``/``from_dict``) is the
        run's, then records it with ``description`` in ``run.json``. Settings
        added to the config since the run began take their defaults.

        Raises:
            ValueError: the folder holds a run of another model config.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        run_file = self.path(RUN_FILE)
        hardware = training_hardware()
        if run_file.exists():
            previous = json.loads(run_file.read_text())
            # a run resumed on another machine (CPU here, then a GPU) names both
            if previous.get("hardware"):
                machines = previous["hardware"].split(RESUMED_ON)
                hardware = RESUMED_ON.join(machines if hardware in machines else [*machines, hardware])
            # Both through from_dict, so a config built with lists (e.g. the CLI's --classic-mean-std)
            # equals the tuples its saved JSON reads back as.
            if type(config).from_dict(previous["config"]) != type(config).from_dict(config.to_dict()):
                raise ValueError(f"{self.folder} holds a run with a different model config; use a new --run folder")
        write_json_atomic(run_file, {"config": config.to_dict(), "hardware": hardware, **description})
        self.state = self.read_state()
        self._drop_unfinished_log_rows()
        return self.state

    def checkpoint(
        self,
        save_last: Callable[[keras.Model], None],
        save_weights: Callable[[keras.Model, Path], None] | None = None,
        log_names: dict[str, str] | None = None,
        stage: str | None = None,
        patience: int | None = None,
    ) -> EpochCheckpoint:
        """The Keras callback that checkpoints this run after every epoch (see :class:`EpochCheckpoint`)."""
        return EpochCheckpoint(
            self,
            save_last,
            save_weights or save_weights_only,
            log_names or {},
            stage,
            patience,
        )

    def save_state(self) -> None:
        write_json_atomic(self.path(STATE_FILE), self.state)

    def finish(self, **updates) -> dict:
        """Mark the run finished (with the model's last entries, e.g. its threshold) and return its state."""
        self.state.update(finished=True, **updates)
        self.save_state()
        return self.state

    def log(self, row: dict) -> None:
        append_csv_row(self.path(LOG_FILE), self.log_fields, row)

    def replace_atomically(self, name: str, write: Callable[[Path], object]) -> None:
        """``write(path)`` to a temporary file beside ``name`` (``last.tmp.keras`` for ``last.keras``, keeping
        the suffixes Keras needs), then renamed over it."""
        stem, _, suffixes = name.partition(".")
        tmp = self.path(f"{stem}.tmp.{suffixes}")
        write(tmp)
        os.replace(tmp, self.path(name))

    def _drop_unfinished_log_rows(self) -> None:
        """Drop log rows of epochs past ``state.json``'s (interrupted before their state was written)."""
        log = self.path(LOG_FILE)
        if not log.exists():
            return
        with open(log, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or list(self.log_fields), list(reader)
        kept = [row for row in rows if int(row["epoch"]) <= self.state["epoch"]]
        if len(kept) == len(rows):
            return
        with open(self.path("log.tmp.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fields)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(self.path("log.tmp.csv"), log)

    # Reading and exporting.

    def read_state(self) -> dict:
        """``state.json`` (defaults for entries older runs lack), or the state before the first epoch."""
        state = {
            "epoch": 0,
            self.monitor.state_key: self.monitor.start(),
            "best_epoch": 0,
            "wait": 0,
            "seconds": 0.0,
            "finished": False,
            **self.state_defaults,
        }
        if self.path(STATE_FILE).exists():
            state.update(json.loads(self.path(STATE_FILE).read_text()))
        return state

    def describe(self) -> dict:
        """``run.json``: the config and the description the run was started with."""
        if not self.path(RUN_FILE).is_file():
            raise ModelNotTrainedError(f"{self.folder} is not a training run (no {RUN_FILE})")
        return json.loads(self.path(RUN_FILE).read_text())

    def export(
        self,
        out_dir: str | Path,
        config,
        which: str = "best",
        initialised_from: str | None = None,
        training: dict | None = None,
    ) -> Path:
        """Write a model folder: ``config``, the run's ``which`` ("best" or "last") weights, its log, and
        ``training.json`` (the run's record, ``initialised_from`` and ``training``); returns ``out_dir``.

        Raises:
            ModelNotTrainedError: the run has no ``which`` weights file.
        """
        out_dir = Path(out_dir)
        weights = self.path(f"{which}.weights.h5")
        if not weights.is_file():
            raise ModelNotTrainedError(f"{self.folder} has no {weights.name} yet")
        run, state = self.describe(), self.read_state()
        out_dir.mkdir(parents=True, exist_ok=True)
        config.save(out_dir / CONFIG_FILE)
        shutil.copyfile(weights, out_dir / WEIGHTS_FILE)
        self.state = state
        self._drop_unfinished_log_rows()  # an interrupted epoch's row is not the model's history
        shutil.copyfile(self.path(LOG_FILE), out_dir / TRAINING_LOG_FILE)
        (out_dir / ONNX_FILE).unlink(missing_ok=True)  # it held the weights just replaced
        record = {
            "initialised_from": relative_to_project(initialised_from),
            "settings": run.get("settings"),
            "train_photos": run.get("train_photos"),
            "val_photos": run.get("val_photos"),
            "epochs_trained": state["epoch"],
            "weights": which,
            "best_epoch": state["best_epoch"],
            self.monitor.state_key: state[self.monitor.state_key],
            "training_seconds": round(state.get("seconds", 0.0), 1),
            # where the run trained (a run folder may be exported on another machine); runs from
            # before run.json recorded it trained where they were exported
            "hardware": run.get("hardware") or training_hardware(with_accelerator=False),
            "run": str(self.folder),
            **(training or {}),
        }
        write_json_atomic(out_dir / TRAINING_FILE, record)
        return out_dir


RESUMED_ON = "; resumed on "


def training_hardware(with_accelerator: bool = True) -> str:
    """Where this process trains, for the record: processor, cores, Keras backend and accelerator.

    Example:
        >>> training_hardware(with_accelerator=False).split(", ")[1].endswith("CPU cores")
        True
    """
    where = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    if not with_accelerator:
        return where
    backend, version, accelerators = keras.backend.backend(), "", []
    try:
        if backend == "jax":
            import jax

            version = jax.__version__
            accelerators = [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        elif backend == "tensorflow":
            import tensorflow as tf

            version = tf.__version__
            accelerators = [
                tf.config.experimental.get_device_details(d).get("device_name", d.name)
                for d in tf.config.list_physical_devices("GPU")
            ]
        elif backend == "torch":
            import torch

            version = torch.__version__
            accelerators = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a record must not stop training; the processor is still known
        accelerators = []
    on = " + ".join(accelerators) if accelerators else "no accelerator"
    return f"{where}, Keras {keras.__version__} on {backend} {version}".rstrip() + f", {on}"


def save_weights_only(model: keras.Model, path: str | Path) -> None:
    """``model``'s weights without its optimizer's state: Keras writes a compiled model's optimizer
    variables into ``save_weights`` files too, doubling a model folder's size for nothing it loads."""
    if getattr(model, "optimizer", None) is None:
        model.save_weights(str(path))
        return
    bare = model.__class__.from_config(model.get_config())  # not clone_model: it compiles the clone
    bare.set_weights(model.get_weights())
    bare.save_weights(str(path))


def relative_to_project(path: str | None) -> str | None:
    """A weights path as records write it (:func:`fashionseg.settings.project_relative`); ``imagenet`` and None
    as they are."""
    if path in (None, "imagenet"):
        return path
    return project_relative(path)


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: the best weights if the monitored metric improved, the last checkpoint, the log row,
    early stopping after ``patience`` epochs without improvement (None: never), then ``state.json``.

    ``save_last(model)`` writes the model's last checkpoint (atomically: see
    :meth:`TrainingRun.replace_atomically`); ``save_weights(model, path)`` its
    weights (for ``best.weights.h5``). ``log_names`` maps a log column to its
    Keras logs name where they differ; ``stage`` goes into the log's ``stage``
    column and ``state.json``.
    """

    def __init__(
        self,
        run: TrainingRun,
        save_last,
        save_weights,
        log_names: dict[str, str],
        stage: str | None,
        patience: int | None,
    ):
        super().__init__()
        self.run, self.save_last, self.save_weights = run, save_last, save_weights
        self.log_names, self.stage, self.patience = log_names, stage, patience
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs, run, state, monitor = logs or {}, self.run, self.run.state, self.run.monitor
        value = float(logs.get(monitor.log_key, np.nan))
        if monitor.improves(value, state[monitor.state_key]):
            run.replace_atomically(BEST_WEIGHTS, lambda path: self.save_weights(self.model, path))
            state.update({monitor.state_key: value, "best_epoch": epoch + 1, "wait": 0})
        else:
            state["wait"] = state.get("wait", 0) + 1
        self.save_last(self.model)
        seconds = time.perf_counter() - self.started
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, "learning_rate": f"{rate:.6g}", "seconds": round(seconds, 1)}
        if self.stage is not None:
            state["stage"] = self.stage
            if "stage" in run.log_fields:
                row["stage"] = self.stage
        for column in run.log_fields:
            name = self.log_names.get(column, column)
            if column not in row and name in logs:
                row[column] = f"{float(logs[name]):.5f}"
        run.log(row)
        state.update(epoch=epoch + 1, seconds=state.get("seconds", 0.0) + seconds, finished=False)
        if self.patience is not None and state["wait"] >= self.patience:
            state["stopped_early"] = True
            self.model.stop_training = True
        run.save_state()


def save_optimizer(optimizer: keras.optimizers.Optimizer, path: Path) -> None:
    """The optimizer's variables (step count, momenta) as an ``.npz``."""
    np.savez(path, *[keras.ops.convert_to_numpy(v) for v in optimizer.variables])


def restore_optimizer(optimizer: keras.optimizers.Optimizer, variables, path: Path) -> None:
    """Build ``optimizer`` for ``variables`` and load what :func:`save_optimizer` wrote."""
    optimizer.build(variables)
    values = np.load(path)
    for variable, key in zip(
        optimizer.variables, sorted(values.files, key=lambda k: int(k.split("_")[1])), strict=True
    ):
        variable.assign(values[key])
