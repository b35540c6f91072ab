"""The image-level label head: which of the classes a photo holds, decided from the whole photo.

The detector names a photo's garments one box at a time, and its per-box scores
are a poor guide to the photo's label set (the thesis' classification metrics):
an upper-body garment gets a shirt box and a top box, a long top a dress box.
This head looks at the photo as a whole: a multi-label logistic regression over
the backbone's pooled features (``image_features``, an output of the inference
graph, no extra network run) and the detector's best score per class. It is
trained on photos with image-level labels only as well as on those with masks,
so CCP's 894 tag-only photos (their training split) teach it too.

How the predictor uses it (:meth:`LabelHead.decide`): a class is in the photo
when the head's probability reaches ``threshold`` *and* the detector has a box
of it scored ``min_score`` or more; its boxes are then kept from ``min_score``
up, and the boxes of every other class are dropped. The head never invents a class the
detector saw nothing of, so a photo framed unlike the training photos (a
waist-up crop) keeps no more than its detections.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> features, scores = rng.normal(size=(200, 8)), rng.uniform(size=(200, 3))
    >>> labels = np.stack([features[:, 0] > 0, features[:, 1] > 0, scores[:, 2] > 0.5], axis=1)
    >>> head = LabelHead.fit(features, scores, labels, l2=0.01)
    >>> float(np.mean((head.probabilities(features, scores) >= 0.5) == labels)) > 0.9
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashionseg.exceptions import ModelFolderError

LABEL_HEAD_FILE = "label_head.npz"


@dataclass
class LabelHead:
    """A fitted head: standardisation, weights and decision settings. Arrays are float64."""

    mean: np.ndarray  # (F + K,) of [image features, best score per class]
    scale: np.ndarray  # (F + K,)
    weights: np.ndarray  # (F + K, K)
    bias: np.ndarray  # (K,)
    threshold: float = 0.5  # probability from which a class is in the photo
    min_score: float = 0.1  # the lowest detection score kept for a class the head puts in the photo
    l2: float = 0.1  # the fit's L2 penalty, kept for the record
    keep_score: float = 1.0  # a class with a box scored this high is in the photo whatever the head says

    @property
    def num_classes(self) -> int:
        return int(self.bias.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.mean.shape[0]) - self.num_classes

    @classmethod
    def fit(
        cls, features: np.ndarray, best_scores: np.ndarray, labels: np.ndarray, l2: float = 0.1, **settings
    ) -> LabelHead:
        """Fit on ``features`` (N, F), ``best_scores`` (N, K: the detector's best score per class, 0 if none)
        and ``labels`` (N, K) bool: mean binary cross-entropy + ``l2 / 2 * |W|^2`` on standardised inputs,
        by L-BFGS (the problem is convex, so the answer does not depend on a seed)."""
        from scipy.optimize import minimize

        x = np.concatenate([np.asarray(features, np.float64), np.asarray(best_scores, np.float64)], axis=1)
        y = np.asarray(labels, np.float64)
        if x.shape[0] != y.shape[0] or y.shape[1] != np.asarray(best_scores).shape[1]:
            raise ValueError(f"features {x.shape}, labels {y.shape}: one row per photo, one label per class")
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        z = (x - mean) / scale
        n, d = z.shape
        k = y.shape[1]

        def loss_and_gradient(w):
            weights, bias = w[: d * k].reshape(d, k), w[d * k :]
            logits = z @ weights + bias
            loss = np.sum(np.logaddexp(0.0, logits) - y * logits) / n + l2 * np.sum(weights * weights) / 2
            error = (1.0 / (1.0 + np.exp(-logits)) - y) / n
            return loss, np.concatenate([(z.T @ error + l2 * weights).ravel(), error.sum(axis=0)])

        solution = minimize(
            loss_and_gradient, np.zeros((d + 1) * k), jac=True, method="L-BFGS-B", options={"maxiter": 500}
        )
        weights, bias = solution.x[: d * k].reshape(d, k), solution.x[d * k :]
        return cls(mean, scale, weights, bias, l2=l2, **settings)

    def probabilities(self, features: np.ndarray, best_scores: np.ndarray) -> np.ndarray:
        """(N, K) probabilities that each class is in each photo (or (K,) for one photo's 1-D inputs)."""
        x = np.concatenate([np.asarray(features, np.float64), np.asarray(best_scores, np.float64)], axis=-1)
        if x.shape[-1] != self.mean.shape[0]:
            raise ModelFolderError(
                f"the label head expects {self.num_features} image features and {self.num_classes} class scores, "
                f"got {x.shape[-1]} values: it was fitted for another model"
            )
        logits = ((x - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def decide(self, features: np.ndarray, best_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One photo's (K,) class probabilities and (K,) bool classes present: a class is present when
        its probability reaches ``threshold`` and the detector has a box of it scored ``min_score`` or more."""
        best_scores = np.asarray(best_scores, np.float64)
        probabilities = self.probabilities(features, best_scores)
        head_says = (probabilities >= self.threshold) & (best_scores >= self.min_score)
        return probabilities, head_says | (best_scores >= self.keep_score)

    def get_config(self) -> dict:
        """The head's settings and shape (its arrays are in the file)."""
        return {
            "num_features": self.num_features,
            "num_classes": self.num_classes,
            "threshold": self.threshold,
            "min_score": self.min_score,
            "l2": self.l2,
            "keep_score": self.keep_score,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        settings = np.array([self.threshold, self.min_score, self.l2, self.keep_score])
        np.savez(path, mean=self.mean, scale=self.scale, weights=self.weights, bias=self.bias, settings=settings)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LabelHead:
        try:
            with np.load(path) as data:
                threshold, min_score, l2, keep_score = (float(v) for v in data["settings"])
                arrays = (data[name] for name in ("mean", "scale", "weights", "bias"))
                return cls(*arrays, threshold, min_score, l2, keep_score)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFolderError(f"{path}: not a label head file ({exc}); fit it again") from exc


def best_scores(class_ids: np.ndarray, scores: np.ndarray, num_classes: int) -> np.ndarray:
    """(K,) the best detection score of each class (ids 1-based, 0 = padding), 0 where it has none.

    >>> best_scores(np.array([2, 2, 1, 0]), np.array([0.9, 0.95, 0.3, 0.0]), 3).tolist()
    [0.3, 0.95, 0.0]
    """
    best = np.zeros(num_classes)
    for c, s in zip(np.asarray(class_ids, int), np.asarray(scores, float)):
        if c > 0:
            best[c - 1] = max(best[c - 1], s)
    return best
