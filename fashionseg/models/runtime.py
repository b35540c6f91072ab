"""ONNX for inference on CPU: export a Keras model (tf2onnx) and run it with ONNX Runtime.

ONNX Runtime is the default runtime of both models wherever an export sits
beside the weights: here it runs them about twice as fast as TensorFlow, and
it avoids a TensorFlow cost seen only inside Streamlit: the first Keras call
of every script rerun took 350-600 ms against 52 ms for the next (the U-Net,
measured with AppTest; most of it graph optimisation, since turning Grappler
off cut it to 150-190 ms), and the Segment page runs each photo in a rerun.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fashionseg.exceptions import ModelFolderError, ModelNotTrainedError, UsageError

ONNX_FILE = "model.onnx"
RUNTIMES = ("keras", "onnx")


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose_runtime(folder: Path, runtime: str | None, export_command: str) -> str:
    """The runtime to load a model folder with: ``runtime`` if given, else ONNX where exported (and installed), else Keras.

    Raises:
        UsageError: ``runtime`` is neither "keras" nor "onnx".
        ModelNotTrainedError: ONNX was asked for and the folder has no export (``export_command`` makes one).
    """
    exported = (folder / ONNX_FILE).is_file()
    if runtime is None:
        runtime = "onnx" if exported and onnxruntime_available() else "keras"
    if runtime not in RUNTIMES:
        raise UsageError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
    if runtime == "onnx" and not exported:
        raise ModelNotTrainedError(f"{folder} has no {ONNX_FILE}; run '{export_command}'")
    return runtime


class OnnxModel:
    """An ONNX Runtime session on CPU: ``model(batch)`` -> {output name: array}.

    Raises:
        ModelFolderError: the file is truncated or not ONNX, or its input is not
            ``input_shape`` (when given) or it lacks one of ``outputs``.
    """

    def __init__(
        self,
        path: str | Path,
        input_shape: tuple[int, ...] | None = None,
        outputs: tuple[str, ...] = (),
        threads: int | None = None,
    ):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:  # several workers on one machine: one core each, not all of them each
            options.intra_op_num_threads = threads
        # Idle workers would spin on the CPU after each run; on 2 cores that slows whatever runs next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime's own exception types (InvalidProtobuf, Fail, ...)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFolderError(f"{path}: ONNX Runtime cannot load it ({first}); export the model again") from exc
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.output_names = [o.name for o in self.session.get_outputs()]
        shape = list(model_input.shape)  # symbolic dimensions are strings
        if input_shape is not None and (
            len(shape) != len(input_shape) or any(isinstance(d, int) and d != e for d, e in zip(shape, input_shape))
        ):
            raise ModelFolderError(
                f"{path}: its input is {model_input.shape}, the folder's config.json needs {list(input_shape)}; "
                "export the model again"
            )
        missing = [name for name in outputs if name not in self.output_names]
        if missing:
            raise ModelFolderError(f"{path}: no output {', '.join(missing)}; is it this folder's model?")

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: batch})))


def export_keras(model, input_shape: tuple[int, ...], target: str | Path, opset: int = 17) -> Path:
    """Write ``model`` (Keras on TensorFlow, batch of one ``input_shape`` float32 image) as ONNX, atomically."""
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec((1,) + tuple(input_shape), tf.float32, name="image")]
    function = tf.function(lambda image: model(image, training=False), input_signature=signature)
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    tf2onnx.convert.from_function(function, input_signature=signature, opset=opset, output_path=str(tmp))
    os.replace(tmp, target)
    return target
