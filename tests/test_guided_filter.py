"""The guided filter that moves a scaled-up probability map's edges onto the photo's."""

import json

import numpy as np
import pytest

from fashionseg.core.guided_filter import guided_filter, working_scale
from fashionseg.models.model_folder import read_config
from fashionseg.models.unet.data import resize_down, resize_up
from fashionseg.models.unet.model import UNetConfig
from fashionseg.models.unet.predictor import GarmentSegmenter


def disc_photo(height=120, width=80):
    """A bright ellipse (the garment) on a textured dark background, and its true mask."""
    yy, xx = np.mgrid[:height, :width]
    truth = ((yy - 60) / 45.0) ** 2 + ((xx - 40) / 25.0) ** 2 <= 1
    rng = np.random.default_rng(0)
    photo = np.where(truth, 200, 40).astype(np.float32) + rng.normal(0, 6, (height, width))
    return np.clip(photo, 0, 255).astype(np.uint8).repeat(3).reshape(height, width, 3), truth


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("scale", [1, 2])
def test_a_map_seen_at_low_resolution_gets_the_photos_edges_back(scale):
    photo, truth = disc_photo()
    # what a network sees at 12 px and returns scaled up: right in the middle, soft at every edge
    soft = resize_up(resize_down(truth.astype(np.float32), 12), *truth.shape)
    sharp = guided_filter(photo, soft, radius=2, scale=scale)
    assert sharp.dtype == np.float32 and sharp.shape == truth.shape
    assert sharp.min() >= 0.0 and sharp.max() <= 1.0
    assert iou(sharp >= 0.5, truth) > iou(soft >= 0.5, truth) + 0.01


def test_a_flat_photo_only_smooths_the_map():
    """Where the photo has no edge to follow, each output pixel is a window mean of the map."""
    rng = np.random.default_rng(1)
    p = rng.random((30, 20)).astype(np.float32)
    out = guided_filter(np.full((30, 20), 128, np.uint8), p, radius=1)
    assert out[10, 10] == pytest.approx(
        np.mean([p[y - 1 : y + 2, x - 1 : x + 2].mean() for y in (9, 10, 11) for x in (9, 10, 11)]), abs=1e-5
    )


def test_bad_arguments_say_what_is_wrong():
    photo, truth = disc_photo()
    p = truth.astype(np.float32)
    with pytest.raises(ValueError, match="differ in size"):
        guided_filter(photo[:-1], p, radius=2)
    bad_arguments = (
        {"radius": 0},
        {"radius": 2, "scale": 0},
        {"radius": 2, "eps": 0.0},
        {"radius": 2, "eps": float("nan")},  # would make the whole map NaN
        {"radius": 2.5},  # OpenCV would fail deep inside with an assertion
        {"radius": 2, "scale": 1.5},
        {"radius": True},
    )
    for bad in bad_arguments:
        with pytest.raises(ValueError, match="radius and scale"):
            guided_filter(photo, p, **bad)
    with pytest.raises(ValueError, match="empty"):
        guided_filter(photo[:0], p[:0], radius=2)
    with pytest.raises(ValueError, match=r"grey \(H x W\) or RGB"):
        guided_filter(photo[:, :, :2], p, radius=2)


def test_a_photo_in_another_type_or_scale_is_filtered_as_the_same_photo():
    """eps is on the 0-1 scale whatever the photo's type, so the result barely depends on it."""
    photo, truth = disc_photo()
    soft = resize_up(resize_down(truth.astype(np.float32), 12), *truth.shape)
    reference = guided_filter(photo, soft, radius=2, scale=2)
    same_photo = {
        "float64 on 0-255": photo.astype(np.float64),
        "float32 on 0-1": photo.astype(np.float32) / 255,
        "uint16": photo.astype(np.uint16) * 257,
        "int64 on 0-255": photo.astype(np.int64),
        "RGBA": np.dstack([photo, np.full(truth.shape, 255, np.uint8)]),
        "non-contiguous": np.ascontiguousarray(photo[:, ::-1])[:, ::-1],
    }
    for name, guide in same_photo.items():
        # uint8 photos turn grey in integers (as a decoded photo does), the others in floats
        assert np.abs(guided_filter(guide, soft, radius=2, scale=2) - reference).max() < 0.01, name
    far_off = guided_filter(photo.astype(np.float32) * 257, soft, radius=2, scale=2)  # read as 0-255: wrong scale
    assert np.abs(far_off - reference).max() > 0.01
    assert guided_filter(photo, soft, radius=np.int64(2), scale=np.int32(2)).shape == truth.shape


def test_working_scale_brings_the_long_side_near_the_models_input():
    assert working_scale(825, 550, 384) == 2
    assert working_scale(300, 200, 384) == 1
    assert working_scale(3000, 4000, 384) == 10


def test_unet_config_turns_the_filter_on_by_default_and_off_with_zero(tmp_path):
    old = UNetConfig().to_dict()
    del old["guided_filter_radius"], old["guided_filter_eps"]
    (tmp_path / "config.json").write_text(json.dumps(old))  # a config.json from before the filter existed
    assert read_config(tmp_path / "config.json", UNetConfig).guided_filter_radius == 2
    bad_settings = (
        {"guided_filter_radius": -1},
        {"guided_filter_radius": 2.0},  # loaded, then OpenCV fails on the first photo
        {"guided_filter_eps": 0.0},
        {"guided_filter_eps": float("nan")},
    )
    for bad in bad_settings:
        with pytest.raises(ValueError, match="guided_filter"):
            UNetConfig(**bad)

    photo, truth = disc_photo()

    def runtime(x):  # a stand-in network: the true mask at its input size
        return resize_down(truth.astype(np.float32), x.shape[1])

    for radius in (0, 2):
        config = UNetConfig(architecture="classic", input_size=32, depth=2, guided_filter_radius=radius)
        segmenter = GarmentSegmenter(runtime, config)
        probability = segmenter.probability(photo)
        plain = resize_up(runtime(resize_down(photo, 32)[None]), *truth.shape)
        if radius:
            expected = guided_filter(photo, plain, 2, config.guided_filter_eps, working_scale(*truth.shape, 32))
            np.testing.assert_allclose(probability, expected, atol=1e-6)
            assert iou(probability >= 0.5, truth) > iou(plain >= 0.5, truth)
        else:
            np.testing.assert_array_equal(probability, plain)
