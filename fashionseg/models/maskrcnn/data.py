"""Mask R-CNN training data: COCO instances -> letterboxed photos, padded targets, batches.

Photos are letterboxed to the square input (thesis 4.2.2); each instance's
mask is kept at that resolution (as RLE, to keep 651 photos' masks in a few MB)
and turned per batch into its box and ``MINI_MASK_SHAPE`` mini-mask (matterport's
``USE_MINI_MASK``), after augmentation, so flipped masks and boxes stay
consistent. Class ids are the COCO category id + 1 (0 is background).

Example:
    >>> import numpy as np
    >>> masks = np.zeros((1, 8, 8), bool); masks[0, 2:5, 1:7] = True
    >>> boxes, minis = boxes_and_mini_masks(masks, (4, 4))
    >>> boxes.tolist(), minis.shape
    ([[2.0, 1.0, 5.0, 7.0]], (1, 4, 4))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
from tqdm import tqdm

from fashionseg.core.coco import annotations_by_image, read_coco, validate_coco
from fashionseg.core.framing import resize, resize_masks
from fashionseg.core.images import letterbox, load_image
from fashionseg.core.masks import decode_rle, encode_rle
from fashionseg.core.split import select_split
from fashionseg.models.augment import FramingAugmentation, FramingSettings, augment, thesis_augmentation
from fashionseg.models.maskrcnn.anchors import pyramid_anchors
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.sampling import epoch_length, epoch_order
from fashionseg.models.maskrcnn.targets import rpn_targets


@dataclass(frozen=True)
class InstanceExample:
    """One photo and its instances (model class ids, 1-based, and full-resolution COCO RLEs)."""

    image_id: int
    image_path: Path
    class_ids: tuple[int, ...]
    rles: tuple[dict, ...]


def examples_from_coco(
    instances_json: str | Path, images_dir: str | Path, split: str | None = None
) -> list[InstanceExample]:
    """Examples from an ``instances.json`` written by ``fashionseg convert ccp`` (or any COCO file of our classes)."""
    coco = validate_coco(read_coco(instances_json), str(instances_json))
    per_image = annotations_by_image(coco)
    out = []
    for im in sorted(select_split(coco["images"], split), key=lambda im: im["id"]):
        anns = per_image.get(im["id"], [])
        out.append(
            InstanceExample(
                im["id"],
                Path(images_dir) / im["file_name"],
                tuple(a["category_id"] + 1 for a in anns),
                tuple(a["segmentation"] for a in anns),
            )
        )
    return out


@dataclass
class PreparedExample:
    """A photo (at most ``MAX_KEPT_SIDE`` px on its long side) and its instances' masks at that size.

    Photos are letterboxed to the model input per batch, after augmentation,
    because re-framing (crops, zoom-out) needs the whole photo at its own resolution.
    """

    image: np.ndarray  # (H, W, 3) uint8
    class_ids: np.ndarray  # (N,) int32, 1-based
    rles: list[dict]

    def masks(self) -> np.ndarray:
        if not self.rles:
            return np.zeros((0,) + self.image.shape[:2], bool)
        return np.stack([decode_rle(r) for r in self.rles])

    def square(self, size: int) -> np.ndarray:
        """The photo letterboxed to the ``size`` x ``size`` model input."""
        return letterbox(self.image, size)[0]


MAX_KEPT_SIDE = 1024  # px: larger photos are shrunk on loading (CCP's are 550 x 825)


def prepare(example: InstanceExample, size: int) -> PreparedExample:
    image = load_image(example.image_path)
    h, w = image.shape[:2]
    scale = min(1.0, MAX_KEPT_SIDE / max(h, w))
    if scale < 1.0:
        image = resize(image, round(h * scale), round(w * scale))
    rles, class_ids = [], []
    for class_id, rle in zip(example.class_ids, example.rles):
        mask = decode_rle(rle)
        if scale < 1.0:
            mask = resize_masks(mask[None], *image.shape[:2])[0]
        # an instance of a few pixels can vanish in the model's input
        if window_area(mask, image.shape[:2], size) >= 1:
            rles.append(encode_rle(mask))
            class_ids.append(class_id)
    return PreparedExample(image, np.asarray(class_ids, np.int32), rles)


def window_area(mask: np.ndarray, shape: tuple[int, int], size: int) -> float:
    """About how many pixels ``mask`` keeps once its photo is letterboxed to ``size``."""
    return float(mask.sum()) * (size / max(shape)) ** 2


def prepare_all(
    examples: list[InstanceExample], size: int, progress: bool = True, desc: str = "loading"
) -> list[PreparedExample]:
    return [prepare(ex, size) for ex in tqdm(examples, desc=desc, unit="photo", disable=not progress)]


def to_model_input(image: np.ndarray, masks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo and its masks letterboxed to the square model input; masks that vanish there are empty."""
    square, window = letterbox(image, size)
    if len(masks) == 0:
        return square, np.zeros((0, size, size), bool)
    return square, np.stack([window.mask_to_square(m) for m in masks])


def boxes_and_mini_masks(masks: np.ndarray, mini_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(N, H, W)`` masks -> boxes ``(N, 4)`` ``y1, x1, y2, x2`` (pixel edges) and the masks inside them resized to ``mini_shape``."""
    boxes = np.zeros((len(masks), 4), np.float32)
    minis = np.zeros((len(masks),) + tuple(mini_shape), bool)
    for i, mask in enumerate(masks):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            continue
        y1, y2, x1, x2 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        boxes[i] = (y1, x1, y2, x2)
        crop = mask[y1:y2, x1:x2].astype(np.float32)
        minis[i] = cv2.resize(crop, (mini_shape[1], mini_shape[0]), interpolation=cv2.INTER_LINEAR) >= 0.5
    return boxes, minis


class MaskRCNNBatches(keras.utils.PyDataset):
    """Batches for :meth:`MaskRCNNNetworks.training_model`: ``(inputs dict, zero targets for the five losses)``.

    With ``features`` (a list of arrays, one per backbone tap, first axis the
    photo) the batches carry those instead of the photos (the heads-only stage).
    With ``augment_images`` the photos get the thesis' augmentation, or with
    ``framing`` settings the re-framing augmentation, which includes the thesis'
    photometric steps (:class:`fashionseg.models.augment.FramingAugmentation`).
    With ``repeat`` (one factor per photo, :mod:`fashionseg.models.maskrcnn.sampling`)
    an epoch shows photos of rare classes more often, drawn afresh each epoch.
    """

    def __init__(
        self,
        examples: list[PreparedExample],
        config: MaskRCNNConfig,
        batch_size: int,
        shuffle: bool,
        augment_images: bool = False,
        features: list[np.ndarray] | None = None,
        feature_names: list[str] | None = None,
        seed: int = 0,
        loss_names: tuple[str, ...] = (),
        framing: FramingSettings | None = None,
        repeat: np.ndarray | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.examples, self.config, self.batch_size = examples, config, batch_size
        self.shuffle, self.features, self.feature_names = shuffle, features, feature_names
        self.augmentation = thesis_augmentation(seed) if augment_images and framing is None else None
        self.framing = FramingAugmentation(framing, seed) if augment_images and framing is not None else None
        self.seed, self.epoch = seed, 0
        self.rng = np.random.default_rng(seed)
        self.anchors = pyramid_anchors(config)
        self.loss_names = loss_names
        self.repeat = None if repeat is None else np.asarray(repeat, float)
        if self.repeat is not None and len(self.repeat) != len(examples):
            raise ValueError(f"{len(self.repeat)} repeat factors for {len(examples)} photos")
        self.order = self._epoch_order(0)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, epoch))
        if self.repeat is not None:
            return epoch_order(self.repeat, rng, epoch_length(self.repeat))
        order = np.arange(len(self.examples))
        if self.shuffle:
            rng.shuffle(order)
        return order

    def __len__(self) -> int:
        return int(np.ceil(len(self.order) / self.batch_size))

    def __getitem__(self, index: int):
        c = self.config
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        g = c.MAX_GT_INSTANCES
        batch = {
            "rpn_match": np.zeros((len(rows), len(self.anchors)), np.int32),
            "rpn_deltas": np.zeros((len(rows), len(self.anchors), 4), np.float32),
            "gt_class_ids": np.zeros((len(rows), g), np.int32),
            "gt_boxes": np.zeros((len(rows), g, 4), np.float32),
            "gt_masks": np.zeros((len(rows), g) + tuple(c.MINI_MASK_SHAPE), np.float32),
        }
        images = np.zeros((len(rows),) + c.IMAGE_SHAPE, np.float32)
        # A batch's randomness depends only on (seed, epoch, batch): the same with
        # any number of loader workers, which are forked copies of this object.
        self.rng = np.random.default_rng((self.seed, self.epoch, index))
        if self.framing is not None:
            self.framing.reseed((self.seed, self.epoch, index, 1))
        if self.augmentation is not None:
            self.augmentation.set_random_seed(int(self.rng.integers(2**31)))
        for i, row in enumerate(rows):
            ex = self.examples[row]
            image, masks, class_ids = ex.image, ex.masks(), ex.class_ids
            if self.framing is not None:
                image, masks, class_ids = self.framing(image, masks, class_ids, self._donor)
            image, masks = to_model_input(image, masks, c.IMAGE_MAX_DIM)
            if self.augmentation is not None:
                image, masks = augment(self.augmentation, image, list(masks))
                masks = np.stack(masks) if masks else np.zeros((0,) + image.shape[:2], bool)
            keep = masks.any(axis=(1, 2)) if len(masks) else np.zeros(0, bool)
            masks, class_ids = masks[keep][:g], class_ids[keep][:g]
            boxes, minis = boxes_and_mini_masks(masks, c.MINI_MASK_SHAPE)
            images[i] = image
            n = len(class_ids)
            batch["gt_class_ids"][i, :n] = class_ids
            batch["gt_boxes"][i, :n] = boxes
            batch["gt_masks"][i, :n] = minis
            batch["rpn_match"][i], batch["rpn_deltas"][i] = rpn_targets(self.anchors, boxes, c, self.rng)
        if self.features is None:
            batch["image"] = images
        else:
            for name, array in zip(self.feature_names, self.features):
                batch[name] = array[rows].astype(np.float32)
        targets = {name: np.zeros((len(rows),), np.float32) for name in self.loss_names}
        return batch, targets

    def _donor(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A random training photo, for pasting garments and people into another."""
        ex = self.examples[int(self.rng.integers(len(self.examples)))]
        return ex.image, ex.masks(), ex.class_ids

    def on_epoch_end(self) -> None:
        self.epoch += 1
        if self.repeat is not None:
            self.order = self._epoch_order(self.epoch)
        elif self.shuffle:  # the previous epoch's order, shuffled again (as runs have always drawn it)
            np.random.default_rng((self.seed, self.epoch)).shuffle(self.order)
