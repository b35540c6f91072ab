"""The image-level label head: fitting, saving, and how the predictor lets it decide a photo's classes."""

from __future__ import annotations

import numpy as np
import pytest

from fashionseg.exceptions import ModelFolderError, UsageError
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.label_head import LabelHead, best_scores
from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

K = 11


def synthetic(n=300, seed=0):
    rng = np.random.default_rng(seed)
    features, scores = rng.normal(size=(n, 6)), rng.uniform(size=(n, K))
    labels = np.zeros((n, K), bool)
    labels[:, 0] = features[:, 0] + features[:, 1] > 0  # seen only in the image features
    labels[:, 8] = scores[:, 8] > 0.4  # seen only in the detector's score
    return features, scores, labels


def test_the_head_learns_from_features_and_scores_and_survives_a_round_trip(tmp_path):
    features, scores, labels = synthetic()
    head = LabelHead.fit(features, scores, labels, l2=0.01, min_score=0.2)
    held_out = synthetic(seed=1)
    predicted = head.probabilities(*held_out[:2]) >= 0.5
    assert np.mean(predicted[:, 0] == held_out[2][:, 0]) > 0.9
    assert np.mean(predicted[:, 8] == held_out[2][:, 8]) > 0.9
    assert not predicted[:, 3].any()  # a class never present is never predicted
    loaded = LabelHead.load(head.save(tmp_path / "label_head.npz"))
    np.testing.assert_array_equal(loaded.probabilities(features, scores), head.probabilities(features, scores))
    assert (
        loaded.get_config()
        == head.get_config()
        == {
            "num_features": 6,
            "num_classes": K,
            "threshold": 0.5,
            "min_score": 0.2,
            "l2": 0.01,
            "keep_score": 1.0,
        }
    )


def test_a_class_needs_the_heads_probability_and_a_detection_from_min_score():
    head = constant_head({4: 10.0, 6: -10.0, 8: 10.0}, min_score=0.1)
    best = np.zeros(K)
    best[[4, 6, 8]] = [0.3, 0.95, 0.05]
    probabilities, present = head.decide(np.zeros(3), best)
    assert probabilities[4] > 0.99 and probabilities[6] < 0.01
    assert np.flatnonzero(present).tolist() == [4]  # 8: likely, but no box from 0.1; 6: a box, but unlikely
    head.keep_score = 0.9  # a box this confident is kept whatever the head says
    assert np.flatnonzero(head.decide(np.zeros(3), best)[1]).tolist() == [4, 6]


def test_a_head_for_another_model_or_a_broken_file_is_refused(tmp_path):
    head = constant_head({}, features=3)
    with pytest.raises(ModelFolderError, match="fitted for another model"):
        head.probabilities(np.zeros(5), np.zeros(K))
    broken = tmp_path / "label_head.npz"
    broken.write_bytes(b"not a numpy archive")
    with pytest.raises(ModelFolderError, match="not a label head file"):
        LabelHead.load(broken)


def test_best_scores_per_class_ignore_padding():
    assert best_scores(np.array([5, 5, 9, 0]), np.array([0.2, 0.7, 0.4, 0.9]), K).tolist() == [
        0,
        0,
        0,
        0,
        0.7,
        0,
        0,
        0,
        0.4,
        0,
        0,
    ]


def constant_head(biases: dict[int, float], min_score: float = 0.1, features: int = 3) -> LabelHead:
    """A head whose probabilities are fixed by its biases (zero weights); unknown classes get -10."""
    bias = np.full(K, -10.0)
    for k, b in biases.items():
        bias[k] = b
    d = features + K
    return LabelHead(np.zeros(d), np.ones(d), np.zeros((d, K)), bias, min_score=min_score)


class StubRuntime:
    """A model that always finds pants (0.3), a dress (0.95) and a shoe (0.9), and image features."""

    def __call__(self, batch):
        boxes = np.array([[60, 20, 120, 60], [10, 10, 120, 110], [110, 70, 125, 90]], np.float32)
        return {
            "boxes": boxes[None],
            "class_ids": np.array([5, 7, 9])[None],
            "scores": np.array([0.3, 0.95, 0.9], np.float32)[None],
            "masks": np.ones((1, 3, 28, 28), np.float32),
            "image_features": np.zeros((1, 3), np.float32),
        }


def test_the_predictor_lets_the_head_decide_unless_a_confidence_is_given():
    config = MaskRCNNConfig(IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128, DETECTION_FOCUS=False)
    photo = np.zeros((128, 128, 3), np.uint8)
    plain = InstanceSegmenter(StubRuntime(), config)
    assert [i.class_name for i in plain.predict(photo).instances] == ["dress", "shoe"]  # 0.5 drops the pants
    with pytest.raises(UsageError, match="no label head"):
        plain.predict(photo, label_head=True)
    plain.check_options(min_confidence=0.3, focus=True, label_head=False)  # every option the CLI passes

    head = constant_head({4: 10.0, 6: -10.0, 8: 10.0})  # 0-based: pants, dress, shoe
    headed = InstanceSegmenter(StubRuntime(), config, label_head=head)
    result = headed.predict(photo)
    assert [i.class_name for i in result.instances] == ["shoe", "pants"]  # the dress is not in the photo
    assert result.label_probabilities.shape == (K,) and result.label_probabilities[6] < 0.01
    given = headed.predict(photo, min_confidence=0.5)  # a confidence given: the thresholds decide
    assert [i.class_name for i in given.instances] == ["dress", "shoe"] and given.label_probabilities is None
    assert [i.class_name for i in headed.predict(photo, label_head=False).instances] == ["dress", "shoe"]
