"""Re-framing (fashionseg.core.framing) and the re-framing augmentation: masks stay on their garments' pixels."""

import cv2
import numpy as np
import pytest

from fashionseg.core import framing
from fashionseg.models.augment import FramingAugmentation, FramingSettings

# Each instance is painted in its own colour, exactly on its mask, on a grey photo: after any
# geometric operation the pixels of an instance's colour and its transformed mask must coincide.
COLOURS = np.array([[230, 20, 20], [20, 230, 20], [20, 20, 230]], np.uint8)


def painted_photo(height=120, width=80):
    image = np.full((height, width, 3), 128, np.uint8)
    masks = np.zeros((3, height, width), bool)
    masks[0, 10:50, 15:65] = True  # a jacket
    masks[1, 55:110, 20:60] = True  # pants
    masks[2, 100:118, 5:30] = True  # a shoe, partly hiding the pants
    masks[1] &= ~masks[2]
    for mask, colour in zip(masks, COLOURS):
        image[mask] = colour
    return image, masks


def colour_region(image, colour, tolerance=60):
    return np.abs(image.astype(int) - colour).max(axis=-1) <= tolerance


def iou(a, b):
    union = (a | b).sum()
    return (a & b).sum() / union if union else 1.0


def assert_masks_on_their_colours(image, masks, min_iou):
    for mask, colour in zip(masks, COLOURS):
        if mask.sum() < 30:  # a sliver left at a frame edge: too few pixels to compare
            continue
        assert iou(mask, colour_region(image, colour)) >= min_iou


def test_place_with_whole_pixels_moves_masks_exactly():
    image, masks = painted_photo()
    fill = np.zeros((100, 200, 3), np.uint8)
    out, out_masks = framing.place(image, masks, 1.0, top=-20, left=90, frame=(100, 200), fill=fill)
    assert out.shape == (100, 200, 3) and out_masks.shape == (3, 100, 200)
    for mask, colour in zip(out_masks, COLOURS):
        assert (mask == (out == colour).all(axis=-1)).all()
    assert (out[:, :90] == 0).all()  # outside the photo: the fill


@pytest.mark.parametrize("scale", [0.3, 0.5, 0.77, 1.6])
def test_scaled_masks_stay_on_their_pixels(scale):
    image, masks = painted_photo()
    h, w = round(120 * scale) + 40, round(80 * scale) + 100
    out, out_masks = framing.place(image, masks, scale, 12, 37, (h, w), np.zeros((h, w, 3), np.uint8))
    assert_masks_on_their_colours(out, out_masks, 0.75 if scale < 0.4 else 0.85)
    # areas scale with the square of the scale
    assert out_masks[0].sum() == pytest.approx(masks[0].sum() * scale**2, rel=0.12)


def test_rotation_moves_masks_with_the_photo():
    image, masks = painted_photo()
    out, out_masks = framing.rotate(image, masks, 10.0, np.zeros_like(image))
    assert_masks_on_their_colours(out, out_masks, 0.85)
    assert not (out_masks[0] == masks[0]).all()


@pytest.mark.parametrize("kind", framing.BACKGROUNDS)
def test_backgrounds_have_the_frame_size(kind):
    image, _ = painted_photo()
    out = framing.background(kind, (90, 160), np.random.default_rng(0), donor=image, photo=image)
    assert out.shape == (90, 160, 3) and out.dtype == np.uint8


def test_side_by_side_keeps_every_photo_whole_and_apart():
    image, masks = painted_photo()
    out, out_masks = framing.side_by_side([(image, masks)] * 3, (120, 213), 0.8, np.random.default_rng(1), "solid")
    assert out_masks.shape == (9, 120, 213)
    jackets = out_masks[0::3]
    assert all(m.sum() > 0 for m in jackets)
    assert not (jackets[0] & jackets[1]).any() and not (jackets[1] & jackets[2]).any()
    # the three copies share colours: each class's three masks together cover that colour
    assert_masks_on_their_colours(out, [out_masks[k::3].any(axis=0) for k in range(3)], 0.8)


def test_drop_small_keeps_only_large_enough_instances():
    masks = np.zeros((2, 20, 20), bool)
    masks[0, :10, :10] = True
    masks[1, 0, :5] = True
    assert framing.drop_small(masks, 50).tolist() == [True, False]


def test_darken_and_jpeg_change_pixels_not_geometry():
    image, _ = painted_photo()
    dark = framing.darken(image, 2.2)
    assert dark.shape == image.shape and dark.mean() < image.mean() / 1.5
    decoded = cv2.imdecode(np.frombuffer(framing.encode_jpeg(image, 25), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == image.shape


def test_framing_augmentation_keeps_masks_aligned_in_every_framing():
    image, masks = painted_photo()
    class_ids = np.array([4, 5, 9], np.int32)
    settings = FramingSettings(copy_paste_probability=0.5, rotate_probability=0.3, min_area=20)
    aug = FramingAugmentation(settings, seed=0, photometric=False)
    shapes = set()
    for _ in range(40):
        out, out_masks, out_ids = aug(image, masks, class_ids, lambda: (image, masks, class_ids))
        assert out.dtype == np.uint8 and out_masks.shape[1:] == out.shape[:2] and len(out_ids) == len(out_masks)
        assert set(out_ids.tolist()) <= {4, 5, 9}
        assert all(m.sum() >= settings.min_area for m in out_masks)
        for mask, class_id in zip(out_masks, out_ids):
            colour = COLOURS[[4, 5, 9].index(class_id)]
            if mask.sum() >= 60:
                assert (mask & colour_region(out, colour)).sum() / mask.sum() >= 0.8
        shapes.add(out.shape[:2])
    assert len(shapes) > 5  # crops, zoom-outs and groups give frames of many sizes


def test_framing_augmentation_is_reproducible_with_a_seed():
    image, masks = painted_photo()
    ids = np.array([4, 5, 9], np.int32)
    runs = []
    for _ in range(2):
        aug = FramingAugmentation(seed=7)
        runs.append([aug(image, masks, ids, lambda: (image, masks, ids)) for _ in range(5)])
    for (a, am, ai), (b, bm, bi) in zip(*runs):
        assert (a == b).all() and (am == bm).all() and (ai == bi).all()


def test_copy_paste_skips_donors_without_garments():
    image, masks = painted_photo()
    ids = np.array([4, 5, 9], np.int32)
    empty = (image, np.zeros((1,) + image.shape[:2], bool), np.ones(1, np.int32))
    aug = FramingAugmentation(FramingSettings(copy_paste_probability=1.0), seed=0, photometric=False)
    for _ in range(10):
        _out, out_masks, out_ids = aug(image, masks, ids, lambda: empty)
        assert len(out_masks) == len(out_ids) <= 3


def test_crop_anchor_weights_put_every_crop_at_the_top_edge_when_told():
    image = np.zeros((200, 100, 3), np.uint8)
    image[:, :, 0] = np.arange(200, dtype=np.uint8)[:, None]  # each row's red value is its index
    masks = np.zeros((0, 200, 100), bool)
    aug = FramingAugmentation(FramingSettings(crop_anchor_weights=(1, 0, 0)), seed=3, photometric=False)
    tops = {int(aug._crop(image, masks)[0][0, 0, 0]) for _ in range(20)}
    assert tops == {0}
    bottom = FramingAugmentation(FramingSettings(crop_anchor_weights=(0, 1, 0)), seed=3, photometric=False)
    assert {int(bottom._crop(image, masks)[0][-1, 0, 0]) for _ in range(20)} == {199}


def test_framing_settings_refuse_bad_odds():
    for bad in ({"framing_weights": (0, 0, 0, 0)}, {"framing_weights": (1, 1, 1)}, {"crop_anchor_weights": (1, -1, 1)}):
        with pytest.raises(ValueError, match="non-negative numbers with a positive sum"):
            FramingSettings(**bad)
    assert FramingSettings(crop_anchor_weights=(0, 0, 2)).crop_anchor_weights == (0, 0, 2)
