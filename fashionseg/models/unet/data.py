"""Garment-mask training data: CCP ``garment.json`` or a studio's photo/cutout folders.

Preprocessing follows the report: photos are resized down to the square model
input with ``INTER_AREA`` (stretched, as the report did for its fixed-aspect
studio photos) and predictions back up with ``INTER_CUBIC``; normalisation
happens inside the model. The report's augmentation is a horizontal flip and
mild colour changes (it found shifts and rotations hurt on studio photos,
:class:`GarmentBatches`); client photos come in any framing and light, so the
default is the re-framing augmentation shared with the Mask R-CNN
(:class:`FramedGarmentBatches`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import cv2
import keras
import numpy as np
from PIL import Image
from tqdm import tqdm

from fashionseg.core.coco import read_coco, validate_coco
from fashionseg.core.images import ImageLoadError, load_image
from fashionseg.core.masks import decode_rle, encode_rle
from fashionseg.core.split import select_split
from fashionseg.models.augment import FramingAugmentation, FramingSettings

CUTOUT_SUFFIXES = (".png", ".webp", ".tif", ".tiff")
DEFAULT_FOCUS_DILATION = 25  # px at CCP's 550 x 825; the report's 50 px at 1152 x 1728, scaled


@dataclass(frozen=True)
class GarmentExample:
    """One photo and where its garment mask comes from (a COCO RLE or a cutout's alpha)."""

    image_path: Path
    rle: dict | None = None
    cutout_path: Path | None = None

    def mask(self) -> np.ndarray:
        if self.rle is not None:
            return decode_rle(self.rle)
        return cutout_alpha_mask(self.cutout_path)


def examples_from_coco(
    garment_json: str | Path, images_dir: str | Path, split: str | None = None
) -> list[GarmentExample]:
    """Examples from a ``garment.json`` written by ``fashionseg convert ccp`` (one mask per photo)."""
    coco = validate_coco(read_coco(garment_json), str(garment_json))
    images = {im["id"]: im for im in select_split(coco["images"], split)}
    masks: dict[int, dict] = {}
    for ann in coco["annotations"]:
        if ann["image_id"] not in images:  # another split's
            continue
        if ann["image_id"] in masks:  # several garment annotations: their union
            masks[ann["image_id"]] = encode_rle(decode_rle(masks[ann["image_id"]]) | decode_rle(ann["segmentation"]))
        else:
            masks[ann["image_id"]] = ann["segmentation"]
    out = []
    for image_id, im in sorted(images.items()):
        rle = masks.get(image_id) or encode_rle(np.zeros((im["height"], im["width"]), bool))
        out.append(GarmentExample(Path(images_dir) / im["file_name"], rle=rle))
    return out


def cutout_alpha_mask(path: Path) -> np.ndarray:
    """The garment mask of an RGBA cutout: its alpha channel, thresholded at 128 (report, step 1)."""
    with Image.open(path) as im:
        if "A" not in im.getbands():
            raise ImageLoadError(f"{path}: a cutout needs an alpha channel, this one is {im.mode}")
        alpha = np.asarray(im.getchannel("A"))
    return alpha >= 128


def examples_from_cutouts(
    photos_dir: str | Path, cutouts_dir: str | Path, split: str | None = None
) -> list[GarmentExample]:
    """Examples from the report's format: ``photos/NAME.jpg`` and ``cutouts/NAME.png`` (RGBA)."""
    photos_dir, cutouts_dir = Path(photos_dir), Path(cutouts_dir)
    cutouts = {p.stem: p for p in cutouts_dir.iterdir() if p.suffix.lower() in CUTOUT_SUFFIXES}
    pairs, missing = [], []
    for photo in sorted(p for p in photos_dir.iterdir() if p.is_file()):
        cutout = cutouts.get(photo.stem)
        if cutout is None:
            missing.append(photo.name)
            continue
        pairs.append({"file_name": photo.name, "photo": photo, "cutout": cutout})
    out = [GarmentExample(pair["photo"], cutout_path=pair["cutout"]) for pair in select_split(pairs, split)]
    if missing and not out:
        raise FileNotFoundError(f"no cutout in {cutouts_dir} matches the photos in {photos_dir} (e.g. {missing[0]})")
    return out


def resize_down(array: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(array, (size, size), interpolation=cv2.INTER_AREA)


def resize_up(probability: np.ndarray, height: int, width: int) -> np.ndarray:
    """A square probability map back to the photo's size, bicubic, clipped to [0, 1]."""
    return np.clip(cv2.resize(probability.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def focus_image(image: np.ndarray, mask: np.ndarray, dilation: int = DEFAULT_FOCUS_DILATION) -> np.ndarray:
    """The report's double-pass input: the photo inside the mask dilated by ``dilation`` px, black elsewhere."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
    keep = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    return np.where(keep[:, :, None], image, 0).astype(image.dtype)


def load_arrays(
    examples: list[GarmentExample], size: int, focus_dilation: int = 0, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Photos and masks resized to ``size`` x ``size``: uint8 ``(N, S, S, 3)`` and ``(N, S, S)``.

    With ``focus_dilation`` the photos are focus images made from the true masks,
    as the report trained its second-pass model.
    """
    images = np.zeros((len(examples), size, size, 3), np.uint8)
    masks = np.zeros((len(examples), size, size), np.uint8)
    for i, ex in enumerate(tqdm(examples, desc=f"loading {size}px", unit="photo", disable=not progress)):
        image, mask = load_image(ex.image_path), ex.mask()
        if mask.shape != image.shape[:2]:
            raise ImageLoadError(f"{ex.image_path}: mask {mask.shape} does not match the photo {image.shape[:2]}")
        if focus_dilation:
            image = focus_image(image, mask, focus_dilation)
        images[i] = resize_down(image, size)
        masks[i] = resize_down(mask.astype(np.float32), size) >= 0.5
    return images, masks


def mild_augmentation(seed: int | None = None) -> A.Compose:
    """Flip and small colour changes only."""
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
            A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=10, val_shift_limit=5, p=0.3),
        ],
        seed=seed,
    )


class GarmentBatches(keras.utils.PyDataset):
    """Batches of ``(float32 images 0-255, float32 masks 0/1)`` from preloaded arrays."""

    def __init__(
        self,
        images: np.ndarray,
        masks: np.ndarray,
        batch_size: int,
        shuffle: bool,
        augment: bool,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.images, self.masks, self.batch_size = images, masks, batch_size
        self.shuffle = shuffle
        self.augmentation = mild_augmentation(seed) if augment else None
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(images))
        if shuffle:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x, y = self.images[rows].copy(), self.masks[rows].copy()
        if self.augmentation is not None:
            for i in range(len(rows)):
                out = self.augmentation(image=x[i], mask=y[i])
                x[i], y[i] = out["image"], out["mask"]
        return x.astype(np.float32), y[..., None].astype(np.float32)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.rng.shuffle(self.order)


def load_photos(examples: list[GarmentExample], progress: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """Photos and garment masks at their own resolution, for re-framing per batch."""
    out = []
    for ex in tqdm(examples, desc="loading photos", unit="photo", disable=not progress):
        image, mask = load_image(ex.image_path), ex.mask()
        if mask.shape != image.shape[:2]:
            raise ImageLoadError(f"{ex.image_path}: mask {mask.shape} does not match the photo {image.shape[:2]}")
        out.append((image, mask))
    return out


class FramedGarmentBatches(keras.utils.PyDataset):
    """Training batches re-framed per photo (:class:`fashionseg.models.augment.FramingAugmentation`), then resized to ``size``.

    The garment mask goes through the augmentation as one instance; garments
    pasted from other photos join it.
    """

    def __init__(
        self,
        photos: list[tuple[np.ndarray, np.ndarray]],
        size: int,
        batch_size: int,
        seed: int = 0,
        settings: FramingSettings | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.photos, self.size, self.batch_size = photos, size, batch_size
        self.augmentation = FramingAugmentation(settings, seed)
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(photos))

    def __len__(self) -> int:
        return int(np.ceil(len(self.photos) / self.batch_size))

    def _donor(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        image, mask = self.photos[int(self.rng.integers(len(self.photos)))]
        return image, mask[None], np.ones(1, np.int32)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = np.zeros((len(rows), self.size, self.size, 3), np.float32)
        y = np.zeros((len(rows), self.size, self.size, 1), np.float32)
        for i, row in enumerate(rows):
            image, mask = self.photos[row]
            image, masks, _ = self.augmentation(image, mask[None], np.ones(1, np.int32), self._donor)
            garment = masks.any(axis=0) if len(masks) else np.zeros(image.shape[:2], bool)
            x[i] = resize_down(image, self.size)
            y[i, :, :, 0] = resize_down(garment.astype(np.float32), self.size) >= 0.5
        return x, y

    def on_epoch_end(self) -> None:
        self.rng.shuffle(self.order)
