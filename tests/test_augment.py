import numpy as np

from fashionseg.models.augment import augment, thesis_augmentation


def test_masks_follow_the_flip_and_nothing_else():
    rng = np.random.default_rng(0)
    image = rng.integers(60, 190, (64, 48, 3), dtype=np.uint8)
    mask = np.zeros((64, 48), bool)
    mask[10:30, 5:15] = True
    pipeline = thesis_augmentation(seed=1)
    flips = 0
    for _ in range(60):
        out, (out_mask,) = augment(pipeline, image, [mask])
        assert out.shape == image.shape and out.dtype == np.uint8
        flipped = (out_mask == mask[:, ::-1]).all()
        assert flipped or (out_mask == mask).all()
        flips += flipped
        # Brightness, blur and noise are photometric only: the mask's shape never changes.
        assert out_mask.sum() == mask.sum()
    assert 15 < flips < 45  # p = 0.5


def test_brightness_shift_stays_within_40_levels():
    image = np.full((32, 32, 3), 128, np.uint8)
    pipeline = thesis_augmentation(seed=3)
    shifts = set()
    for _ in range(80):
        out, _ = augment(pipeline, image, [])
        mean = float(out.astype(float).mean()) - 128
        assert -41.5 <= mean <= 41.5
        shifts.add(round(mean))
    assert max(shifts) > 10 and min(shifts) < -10  # both directions occur
    assert 0 in shifts  # about half the images keep their brightness


def test_some_images_are_left_untouched():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    pipeline = thesis_augmentation(seed=7)
    unchanged = sum((augment(pipeline, image, [])[0] == image).all() for _ in range(200))
    assert 10 < unchanged < 50  # 0.5^3 = 12.5 % expected
