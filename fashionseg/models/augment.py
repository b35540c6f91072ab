"""Training augmentation: the thesis' (Section 4.2.5), and re-framing for client photos.

Three independent steps, each applied to about half of the images, so an image
gets zero to three of them: a horizontal flip; a brightness shift adding one
value in [-40, 40] to every pixel; and either a Gaussian blur (sigma in [0, 1])
or additive Gaussian noise (sigma in [0, 0.05 * 255]). Only the flip moves
pixels, so masks follow the image through it and are untouched otherwise.

Example:
    >>> import numpy as np
    >>> from fashionseg.models.augment import thesis_augmentation, augment
    >>> image, masks = augment(thesis_augmentation(), np.zeros((8, 8, 3), np.uint8), [np.eye(8, dtype=bool)])
    >>> image.shape, masks[0].dtype
    ((8, 8, 3), dtype('bool'))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import albumentations as A
import numpy as np

from fashionseg.core import framing as framing_module
from fashionseg.core.masks import mask_bbox

BRIGHTNESS_SHIFT = 40  # pixel values, added to all channels
BLUR_SIGMA = (0.0, 1.0)
NOISE_SIGMA_FRACTION = (0.0, 0.05)  # of 255


def thesis_augmentation(seed: int | None = None) -> A.Compose:
    """The augmentation pipeline of thesis Section 4.2.5."""
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            # contrast 0 and brightness_by_max: img + beta * 255 with beta in +-40/255,
            # i.e. imgaug's Add((-40, 40)) that the thesis used.
            A.RandomBrightnessContrast(
                brightness_limit=(-BRIGHTNESS_SHIFT / 255, BRIGHTNESS_SHIFT / 255),
                contrast_limit=(0.0, 0.0),
                brightness_by_max=True,
                p=0.5,
            ),
            A.OneOf(
                [
                    A.GaussianBlur(blur_limit=0, sigma_limit=BLUR_SIGMA, p=1.0),
                    A.GaussNoise(std_range=NOISE_SIGMA_FRACTION, mean_range=(0.0, 0.0), p=1.0),
                ],
                p=0.5,
            ),
        ],
        seed=seed,
    )


def augment(pipeline: A.Compose, image: np.ndarray, masks: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Apply ``pipeline`` to an RGB image and its boolean instance masks together."""
    if not masks:
        return pipeline(image=image)["image"], []
    out = pipeline(image=image, masks=[m.astype(np.uint8) for m in masks])
    return out["image"], [np.asarray(m).astype(bool) for m in out["masks"]]


# --- Re-framing augmentation (client photos: any framing, scale and light) -------------------------

FRAMINGS = ("full", "crop", "zoom_out", "group")
FRAME_ASPECTS = (9 / 16, 3 / 4, 1.0, 4 / 3, 16 / 9)  # width / height of the frames a zoom-out lands in


@dataclass(frozen=True)
class FramingSettings:
    """Probabilities and ranges of the re-framing augmentation (:class:`FramingAugmentation`).

    ``framing_weights`` are the relative odds of keeping the photo's framing,
    cropping into it, zooming out onto a wider canvas, or putting several photos
    side by side. Crops keep ``crop_height`` of the photo's height;
    ``crop_anchor_weights`` are the relative odds of a crop starting at the
    photo's top edge (a waist-up shot), ending at its bottom edge (lower body),
    or lying anywhere (by default a quarter, a quarter and half). A zoom-out
    shows the person at ``person_scale`` of the frame's height.
    """

    # Crops get the most weight: a wide shot is turned back into a close one at inference by the
    # detector's focus pass, a waist-up photo has nothing to zoom out to.
    framing_weights: tuple[float, float, float, float] = (0.25, 0.45, 0.2, 0.1)
    crop_height: tuple[float, float] = (0.35, 0.9)
    crop_anchor_weights: tuple[float, float, float] = (0.25, 0.25, 0.5)
    person_scale: tuple[float, float] = (0.25, 0.95)
    group_size: tuple[int, int] = (2, 3)
    copy_paste_probability: float = 0.3
    copy_paste_instances: tuple[int, int] = (1, 3)
    rotate_probability: float = 0.2
    rotate_degrees: float = 12.0
    min_area: int = 64  # px at the photo's resolution: smaller leftovers of a cut instance are dropped

    def __post_init__(self):
        for name, weights, size in (
            ("framing_weights", self.framing_weights, len(FRAMINGS)),
            ("crop_anchor_weights", self.crop_anchor_weights, 3),
        ):
            if len(weights) != size or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(
                    f"{name} must be {size} non-negative numbers with a positive sum, not {tuple(weights)}"
                )

    def to_dict(self) -> dict:
        return asdict(self)


def photometric_augmentation(seed: int | None = None) -> A.Compose:
    """The thesis' flip, brightness shift and blur/noise, plus what client photos add.

    Low light (gamma up to 2.5), contrast and colour casts, motion blur, heavy
    JPEG (quality 20-95) and low-resolution cameras (downscale to 35-90 %).
    """
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.OneOf(
                [
                    A.RandomGamma(gamma_limit=(70, 250), p=1.0),  # percent: 0.7-2.5, mostly darker
                    A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.3, p=1.0),
                ],
                p=0.6,
            ),
            A.HueSaturationValue(hue_shift_limit=8, sat_shift_limit=25, val_shift_limit=0, p=0.3),
            A.OneOf(
                [
                    A.GaussianBlur(blur_limit=0, sigma_limit=(0.3, 1.5), p=1.0),
                    A.MotionBlur(blur_limit=(3, 7), p=1.0),
                    A.GaussNoise(std_range=(0.01, 0.06), mean_range=(0.0, 0.0), p=1.0),
                ],
                p=0.35,
            ),
            A.Downscale(scale_range=(0.35, 0.9), p=0.15),
            A.ImageCompression(quality_range=(20, 95), p=0.35),
        ],
        seed=seed,
    )


Donor = Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]  # another photo: (image, masks, class ids)


class FramingAugmentation:
    """Re-frames a training photo and its instances, pastes garments from other photos, rotates, re-lights.

    Large-scale jitter and crops (zoom out to a small person on a wider
    canvas, zoom in on part of the person, several people side by side) use the
    same operations as the robustness variants (:mod:`fashionseg.core.framing`);
    copy-paste (Ghiasi et al., 2021) pastes garment instances of other photos
    at random scales and places and cuts what they cover out of the masks below.

    Example:
        >>> import numpy as np
        >>> aug = FramingAugmentation(seed=1)
        >>> image = np.full((80, 40, 3), 128, np.uint8); masks = np.zeros((1, 80, 40), bool); masks[0, 10:70, 5:35] = True
        >>> donor = lambda: (image, masks, np.array([3]))
        >>> out, out_masks, ids = aug(image, masks, np.array([3]), donor)
        >>> out.dtype, out_masks.shape[1:] == out.shape[:2], len(ids) == len(out_masks)
        (dtype('uint8'), True, True)
    """

    def __init__(self, settings: FramingSettings | None = None, seed: int | None = None, photometric: bool = True):
        self.settings = settings or FramingSettings()
        self.rng = np.random.default_rng(seed)
        # without the photometric steps (tests check geometry by colour) only the flip stays
        self.photometric = (
            photometric_augmentation(None if seed is None else seed + 1)
            if photometric
            else A.Compose([A.HorizontalFlip(p=0.5)], seed=None if seed is None else seed + 1)
        )

    def reseed(self, seed) -> None:
        """Restart the random streams from ``seed`` (an int or a tuple of ints, e.g. ``(run seed, epoch, batch)``).

        Data-loader workers are forked copies: without a per-batch seed each
        would replay its siblings' draws, every epoch.
        """
        self.rng = np.random.default_rng(seed)
        self.photometric.set_random_seed(int(np.random.default_rng(seed).integers(2**31)))

    def __call__(
        self, image: np.ndarray, masks: np.ndarray, class_ids: np.ndarray, donor: Donor
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s, rng = self.settings, self.rng
        weights = np.asarray(s.framing_weights, float)
        framing = FRAMINGS[rng.choice(len(FRAMINGS), p=weights / weights.sum())]
        kind = framing_module.BACKGROUNDS[rng.integers(len(framing_module.BACKGROUNDS))]
        if framing == "crop":
            image, masks = self._crop(image, masks)
        elif framing == "zoom_out":
            aspect = FRAME_ASPECTS[rng.integers(len(FRAME_ASPECTS))]
            image, masks = framing_module.zoom_out(
                image, masks, rng.uniform(*s.person_scale), aspect, rng, kind, donor=donor()[0]
            )
        elif framing == "group":
            others = [donor() for _ in range(rng.integers(s.group_size[0], s.group_size[1] + 1) - 1)]
            photos = [(image, masks)] + [(im, m) for im, m, _ in others]
            class_ids = np.concatenate([class_ids] + [ids for _, _, ids in others]).astype(class_ids.dtype)
            h = image.shape[0]
            frame = (h, round(h * FRAME_ASPECTS[rng.integers(2, len(FRAME_ASPECTS))] * len(photos) / 2))
            image, masks = framing_module.side_by_side(
                photos, frame, rng.uniform(0.5, 0.95), rng, kind, donor=donor()[0]
            )
        if rng.random() < s.copy_paste_probability:
            image, masks, class_ids = self._copy_paste(image, masks, class_ids, donor)
        if rng.random() < s.rotate_probability:
            fill = framing_module.background("extended_edges", image.shape[:2], rng, photo=image)
            image, masks = framing_module.rotate(image, masks, rng.uniform(-s.rotate_degrees, s.rotate_degrees), fill)
        keep = framing_module.drop_small(masks, s.min_area)
        image, kept = augment(self.photometric, image, list(masks[keep]))
        masks = np.stack(kept) if kept else np.zeros((0,) + image.shape[:2], bool)
        return image, masks, class_ids[keep]

    def _crop(self, image: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, rng = self.settings, self.rng
        h, w = image.shape[:2]
        height = max(8, round(h * rng.uniform(*s.crop_height)))
        # aspect of the crop: from a tall strip to a landscape window, never wider than the photo
        width = min(w, max(8, round(height * rng.uniform(0.5, 1.6))))
        at_top, at_bottom, _ = np.cumsum(s.crop_anchor_weights) / np.sum(s.crop_anchor_weights)
        anchor = rng.random()
        top = 0 if anchor < at_top else h - height if anchor < at_bottom else int(rng.integers(0, h - height + 1))
        left = int(rng.integers(0, w - width + 1))
        return framing_module.crop(image, masks, top, left, height, width)

    def _copy_paste(self, image, masks, class_ids, donor: Donor):
        s, rng = self.settings, self.rng
        h, w = image.shape[:2]
        for _ in range(rng.integers(s.copy_paste_instances[0], s.copy_paste_instances[1] + 1)):
            d_image, d_masks, d_ids = donor()
            if len(d_masks) == 0:
                continue
            i = int(rng.integers(len(d_masks)))
            if not d_masks[i].any():  # a photo without garments
                continue
            x0, y0, bw, bh = (int(v) for v in mask_bbox(d_masks[i]))
            x1, y1 = x0 + bw, y0 + bh
            # the garment at the size it would have in a photo of this frame's height, +-50 %
            scale = min(rng.uniform(0.5, 1.5) * h / d_image.shape[0], 0.9 * h / (y1 - y0), 0.9 * w / (x1 - x0))
            piece, piece_mask = d_image[y0:y1, x0:x1], d_masks[i : i + 1, y0:y1, x0:x1]
            ph, pw = max(1, round((y1 - y0) * scale)), max(1, round((x1 - x0) * scale))
            top, left = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
            pasted_image, pasted = framing_module.place(piece, piece_mask, scale, top, left, (h, w), image)
            cover = pasted[0]
            if cover.sum() < s.min_area:
                continue
            image = np.where(cover[:, :, None], pasted_image, image)
            masks = np.concatenate([masks & ~cover, pasted]) if len(masks) else pasted
            class_ids = np.concatenate([class_ids, d_ids[i : i + 1]]).astype(class_ids.dtype)
        return image, masks, class_ids
