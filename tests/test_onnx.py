"""Which runtime a model folder loads with."""

import pytest

from fashionseg.exceptions import ModelNotTrainedError
from fashionseg.models.runtime import ONNX_FILE, choose_runtime


def test_onnx_where_exported_else_keras_and_clear_errors(tmp_path):
    assert choose_runtime(tmp_path, None, "make it") == "keras"
    assert choose_runtime(tmp_path, "keras", "make it") == "keras"
    with pytest.raises(ModelNotTrainedError, match=f"has no {ONNX_FILE}; run 'make it'"):
        choose_runtime(tmp_path, "onnx", "make it")
    (tmp_path / ONNX_FILE).write_bytes(b"")
    assert choose_runtime(tmp_path, None, "make it") == "onnx"
    assert choose_runtime(tmp_path, "keras", "make it") == "keras"
    with pytest.raises(ValueError, match="runtime must be one of"):
        choose_runtime(tmp_path, "tensorrt", "make it")
