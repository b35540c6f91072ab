"""Model folders: the one config convention of both models, and reading a folder's files so that a broken one names itself.

Both models' configs are dataclasses with :class:`ModelConfig`'s methods:
``to_dict``/``from_dict``, ``to_json``/``from_json`` and ``save``/``load``
(``config.json``). ``from_dict`` rejects settings it does not know, except the
``RETIRED`` ones that older ``config.json`` files hold, which it drops, and values
of the wrong JSON type for their setting.

A folder can be broken in ways that otherwise surface deep inside json, h5py,
Keras or ONNX Runtime: a config that is not JSON, another model's config, an
unknown or mistyped setting, a truncated weights file. Each becomes one
:class:`ModelFolderError` naming the file and the problem.

Example:
    >>> import tempfile
    >>> from fashionseg.models.unet.model import UNetConfig
    >>> path = Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = path.write_text('{"BACKBONE": "mobilenet_v2"}')
    >>> try:
    ...     read_config(path, UNetConfig)
    ... except ModelFolderError as exc:
    ...     print(str(exc).split(": ", 1)[1])
    this is a Mask R-CNN's config, not a U-Net's; is it the right model folder?
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fashionseg.exceptions import ModelFolderError, ModelNotTrainedError

T = TypeVar("T")
C = TypeVar("C", bound="ModelConfig")

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
# A key only one kind of config has tells which model a folder holds.
_KIND_MARKERS = {"Mask R-CNN": "BACKBONE", "U-Net": "architecture"}


class ModelConfig:
    """The methods both models' config dataclasses share (mix in before ``@dataclass``).

    Subclasses set ``KIND`` (the model's name in messages, "U-Net") and
    ``RETIRED`` (setting names older saved configs may hold; dropped on reading).
    """

    KIND = "model"
    RETIRED: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[C], data: dict) -> C:
        """The config of a ``to_dict`` (or a saved ``config.json``); settings added since take their defaults.

        Raises:
            ValueError: ``data`` names a setting this config does not have (and never had), or a bad value.
        """
        data = {k: v for k, v in data.items() if k not in cls.RETIRED}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(fields)
        if unknown:
            raise ValueError(f"unknown {cls.KIND} settings: {', '.join(sorted(unknown))}")
        for name, value in data.items():
            problem = _type_problem(_default(fields[name]), value)
            if problem:
                raise ValueError(f"{name} {problem}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls: type[C], path: str | Path) -> C:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def check_model_folder(folder: Path, kind: str) -> None:
    """Fail fast, before any model code is imported: ``folder`` holds a config and weights, and the config is ``kind``'s."""
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ModelNotTrainedError(f"no trained {kind} in {folder} (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
    read_config_json(folder / CONFIG_FILE, kind)


def read_config_json(path: Path, kind: str) -> dict:
    """A config file as a JSON object, checked to be a ``kind`` config and not another model's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path}: not a {kind} config (the top level must be a JSON object)")
    other = next(
        (
            name
            for name, key in _KIND_MARKERS.items()
            if name != kind and key in data and _KIND_MARKERS[kind] not in data
        ),
        None,
    )
    if other is not None:
        raise ModelFolderError(f"{path}: this is a {other}'s config, not a {kind}'s; is it the right model folder?")
    return data


def read_config(
    path: Path, config_class: type[T], build: Callable[[dict], T] | None = None, kind: str | None = None
) -> T:
    """``build(settings)`` (default ``config_class.from_dict``) of a config file, after checking it holds only
    ``config_class``'s settings (its ``RETIRED`` ones are dropped); ``from_dict`` checks their types. ``kind``
    defaults to its ``KIND``."""
    kind = kind or getattr(config_class, "KIND", config_class.__name__)
    build = build or config_class.from_dict
    retired = getattr(config_class, "RETIRED", ())
    data = {k: v for k, v in read_config_json(path, kind).items() if k not in retired}
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ModelFolderError(f"{path}: unknown {kind} settings: {', '.join(unknown)}")
    try:
        return build(data)  # from_dict checks each value's type against its setting's default
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFolderError(f"{path}: not a valid {kind} config ({exc})") from None


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _type_problem(default, value) -> str | None:
    """Why ``value`` cannot stand where a setting's ``default`` is (a loose check: JSON types only), or None."""
    if default is None or value is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
    if isinstance(default, int | float):
        ok = (
            isinstance(value, numbers.Real)  # numpy's scalars too, as a threshold search returns them
            and not isinstance(value, bool)
            and value == value
            and abs(value) != float("inf")
        )
        return None if ok else f"must be a number, not {value!r}"
    if isinstance(default, str):
        return None if isinstance(value, str) else f"must be a string, not {value!r}"
    if isinstance(default, tuple | list):
        return None if isinstance(value, list | tuple) else f"must be a list, not {value!r}"
    if isinstance(default, dict):
        return None if isinstance(value, dict) else f"must be an object, not {value!r}"
    return None


def load_keras_weights(load: Callable[[str], object], path: Path) -> None:
    """``load(str(path))``, with any failure of a truncated, foreign or mismatched weights file as a ModelFolderError."""
    try:
        load(str(path))
    except Exception as exc:  # h5py and Keras fail on bad files with many exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFolderError(
            f"{path}: the weights cannot be loaded ({first}); is the file complete, and from this model?"
        ) from exc
