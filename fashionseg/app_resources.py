"""What the app's pages load once per process (models, the store), with ``st.cache_resource``.

Kept in one module so every page shares one copy of each model and of the store's engine.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import streamlit as st

from fashionseg import settings
from fashionseg.exceptions import FashionSegError
from fashionseg.segment import escape_markdown
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
    other down). Other attributes are the model's.
    """

    def __init__(self, load: Callable[[], object], name: str):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.model = self._executor.submit(load).result()

    def predict(self, *args, **kwargs):
        return self._executor.submit(self.model.predict, *args, **kwargs).result()

    def __getattr__(self, name: str):
        return getattr(self.model, name)


def _loaded_and_warm(load: Callable[[], object]) -> Callable[[], object]:
    def run():
        model = load()
        model.warm_up()  # the first photo's timing is then the model's, not TensorFlow's start-up
        return model

    return run


@st.cache_resource(show_spinner="Loading the Mask R-CNN ...")
def instance_segmenter(path: str) -> ModelThread:
    from fashionseg.maskrcnn.predictor import InstanceSegmenter

    return ModelThread(_loaded_and_warm(lambda: InstanceSegmenter.load(path)), "maskrcnn")


@st.cache_resource(show_spinner="Loading the U-Net ...")
def garment_segmenter(path: str) -> ModelThread:
    from fashionseg.unet.predictor import GarmentSegmenter

    return ModelThread(_loaded_and_warm(lambda: GarmentSegmenter.load(path)), "unet")


@st.cache_resource(show_spinner=False)
def annotation_store(path: str) -> AnnotationStore:
    return AnnotationStore(path)


def show_error(exc: FashionSegError, prefix: str = "") -> None:
    """A user-caused error as the CLI words it (its ``error:`` line), never a traceback."""
    st.error(escape_markdown(f"{prefix}{exc}"))


def model_or_error(load: Callable[[str], ModelThread], path: Path, label: str) -> ModelThread | None:
    """The cached model of ``path``, or None after showing why its folder cannot be loaded."""
    try:
        return load(str(path))
    except FashionSegError as exc:
        show_error(exc, f"{label}: ")
        return None


def store_or_stop(path: str) -> AnnotationStore:
    """The cached store; a path that is no usable store ends the page with the reason."""
    try:
        return annotation_store(path)
    except FashionSegError as exc:
        show_error(exc, "Annotation store: ")
        st.stop()
