"""What the app's pages load once per process (models, the store), with ``st.cache_resource``.

Kept in one module so every page shares one copy of each model and of the store's engine.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import streamlit as st

from fashionseg import settings
from fashionseg.app.segment_view import ResultCache, escape_markdown
from fashionseg.exceptions import FashionSegError, ModelFolderError, StoreUnreachableError
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.model_folder import CONFIG_FILE, read_config, read_config_json
from fashionseg.store import AnnotationStore


def trained(kind: str) -> Path | None:
    """The default trained model of ``kind`` ('maskrcnn', 'unet'), or None when there is none."""
    path = settings.default_weights(kind)
    return path if path is not None and (path / "config.json").is_file() else None


class ModelThread:
    """A model whose loading and ``predict`` calls all run on one long-lived thread of its own.

    Every browser session shares the one cached model; its thread queues their
    calls, so two sessions never run one model at once (a Keras model is not
    documented as thread-safe, and on 2 cores concurrent runs only slow each
    other down). Loading starts at construction and is not waited for, so a page
    can show itself while its models load; ``wait`` (or any use of the model)
    waits, and raises what loading raised. Other attributes are the model's.
    """

    def __init__(self, load: Callable[[], object], name: str):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._loading = self._executor.submit(load)

    @property
    def model(self):
        return self._loading.result()

    def ready(self) -> bool:
        """Loaded (or failed to load): ``wait`` returns at once."""
        return self._loading.done()

    def wait(self) -> ModelThread:
        self._loading.result()
        return self

    def predict(self, *args, **kwargs):
        return self._executor.submit(self.model.predict, *args, **kwargs).result()

    def __getattr__(self, name: str):
        if name.startswith("_"):  # not set yet (copying, unpickling): never wait for a model here
            raise AttributeError(name)
        return getattr(self.model, name)


def _load_instance_segmenter(path: str):
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

    return InstanceSegmenter.load(path)


def _load_garment_segmenter(path: str):
    from fashionseg.models.unet.predictor import (
        GarmentSegmenter,  # imports Keras (~5 s): on the model's thread, not the page's
    )

    return GarmentSegmenter.load(path)


def _loaded_and_warm(load: Callable[[str], object], path: str) -> Callable[[], object]:
    def run():
        model = load(path)
        model.warm_up()  # the first photo's timing is then the model's, not TensorFlow's start-up
        return model

    return run


# No spinner: these return at once and load in the background (``model_or_error`` waits, with one).
@st.cache_resource(show_spinner=False)
def instance_segmenter(path: str) -> ModelThread:
    return ModelThread(_loaded_and_warm(_load_instance_segmenter, path), "maskrcnn")


@st.cache_resource(show_spinner=False)
def garment_segmenter(path: str) -> ModelThread:
    return ModelThread(_loaded_and_warm(_load_garment_segmenter, path), "unet")


@st.cache_resource(show_spinner=False)
def result_cache() -> ResultCache:
    """The Segment page's model results by photo content, shared by every session (see ``ResultCache``)."""
    return ResultCache()


def maskrcnn_config(path: Path) -> MaskRCNNConfig:
    """A Mask R-CNN folder's settings, read without loading the model (the page shows them at once)."""
    return read_config(path / CONFIG_FILE, MaskRCNNConfig, MaskRCNNConfig.from_dict, "Mask R-CNN")


def unet_settings(path: Path) -> tuple[float, bool]:
    """A U-Net folder's threshold and whether it has a second pass, read without loading the
    model (importing the U-Net's code imports Keras, ~5 s)."""
    data = read_config_json(path / CONFIG_FILE, "U-Net")
    threshold = data.get("threshold", 0.5)  # UNetConfig's default
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ModelFolderError(f"{path / CONFIG_FILE}: threshold must be a number from 0 to 1, not {threshold!r}")
    return float(threshold), (path / "second_pass" / CONFIG_FILE).is_file()


@st.cache_resource(show_spinner=False)
def annotation_store(path: str) -> AnnotationStore:
    return AnnotationStore(path)


def show_error(exc: FashionSegError, prefix: str = "") -> None:
    """A user-caused error as the CLI words it (its ``error:`` line), never a traceback."""
    st.error(escape_markdown(f"{prefix}{exc}"))


def model_or_error(load: Callable[[str], ModelThread], path: Path, label: str) -> ModelThread | None:
    """The cached model of ``path``, loaded, or None after showing why its folder cannot be loaded."""
    try:
        model = load(str(path))
        if model.ready():
            return model.wait()
        with st.spinner(f"Loading the {label} (once per app start) ..."):
            return model.wait()
    except FashionSegError as exc:
        load.clear(str(path))  # tried again on the next run, so a repaired folder needs no restart
        show_error(exc, f"{label}: ")
        return None


def store_or_stop(path: str) -> AnnotationStore:
    """The cached store; a path that is no usable store ends the page with the reason."""
    try:
        store = annotation_store(path)
        store.datasets()  # a server gone since the store was cached is said here, not midway through the page
        return store
    except FashionSegError as exc:
        show_error(exc, "Annotation store: ")
        if isinstance(exc, StoreUnreachableError):
            st.info("Your unsaved edits are kept in this browser tab: save them once the store answers again.")
        st.stop()
