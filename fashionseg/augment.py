"""The thesis' training augmentation (Section 4.2.5), with albumentations.

Three independent steps, each applied to about half of the images, so an image
gets zero to three of them: a horizontal flip; a brightness shift adding one
value in [-40, 40] to every pixel; and either a Gaussian blur (sigma in [0, 1])
or additive Gaussian noise (sigma in [0, 0.05 * 255]). Only the flip moves
pixels, so masks follow the image through it and are untouched otherwise.

Example:
    >>> import numpy as np
    >>> from fashionseg.augment import thesis_augmentation, augment
    >>> image, masks = augment(thesis_augmentation(), np.zeros((8, 8, 3), np.uint8), [np.eye(8, dtype=bool)])
    >>> image.shape, masks[0].dtype
    ((8, 8, 3), dtype('bool'))
"""

from __future__ import annotations

import albumentations as A
import numpy as np

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
