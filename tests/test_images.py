"""Safe loading of every kind of bad or unusual photo, and the letterbox and its inverse."""

import io

import numpy as np
import pytest
from PIL import Image

from fashionseg.core.images import ImageLoadError, LetterboxWindow, letterbox, load_image


def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def gradient(h=40, w=30) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.stack([yy * 6, xx * 8, (yy + xx) * 3], axis=2).astype(np.uint8)


def test_rgb_jpeg_png_webp(tmp_path):
    arr = gradient()
    for fmt in ("PNG", "WEBP", "JPEG"):
        out = load_image(encode(Image.fromarray(arr), fmt, **({"lossless": True} if fmt == "WEBP" else {})))
        assert out.shape == (40, 30, 3) and out.dtype == np.uint8
        if fmt != "JPEG":
            np.testing.assert_array_equal(out, arr)
    path = tmp_path / "photo.png"
    path.write_bytes(encode(Image.fromarray(arr), "PNG"))
    np.testing.assert_array_equal(load_image(path), arr)
    with open(path, "rb") as stream:
        np.testing.assert_array_equal(load_image(stream), arr)


def test_exif_orientation_is_applied():
    arr = gradient(40, 30)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = load_image(encode(im, "PNG", exif=exif))
    assert out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out, np.rot90(arr, k=-1))


def test_grayscale_palette_cmyk_become_rgb():
    arr = gradient()
    gray = load_image(encode(Image.fromarray(arr[:, :, 0]), "PNG"))
    assert (
        gray.shape == (40, 30, 3) and (gray[:, :, 0] == arr[:, :, 0]).all() and (gray[:, :, 1] == gray[:, :, 2]).all()
    )
    palette = load_image(encode(Image.fromarray(arr).convert("P"), "PNG"))
    assert palette.shape == (40, 30, 3)
    cmyk = load_image(encode(Image.fromarray(arr).convert("CMYK"), "JPEG"))
    assert cmyk.shape == (40, 30, 3)
    assert np.abs(cmyk.astype(int) - arr).mean() < 20


def test_rgba_is_composited_on_white():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:5, :, 3] = 255  # top half opaque red-ish, bottom half transparent
    out = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert (out[:5] == [200, 0, 0]).all()
    assert (out[5:] == 255).all()


def test_16_bit_grayscale():
    arr = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024).astype(np.uint16)
    im = Image.fromarray(arr)  # uint16 -> mode I;16
    out = load_image(encode(im, "PNG"))
    assert out.shape == (8, 8, 3)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == round(63 * 1024 * 255 / 65535)


def test_bad_inputs_raise_one_clear_error(tmp_path):
    good = encode(Image.fromarray(gradient(200, 200)), "JPEG")
    cases = {
        "not an image": b"hello, this is text",
        "truncated": good[: len(good) // 2],
        "empty file": b"",
    }
    for _reason, data in cases.items():
        with pytest.raises(ImageLoadError) as err:
            load_image(data)
        assert "uploaded image" in str(err.value)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageLoadError, match="unsupported image format"):
        load_image(encode(Image.fromarray(gradient()), "PPM"))


def test_decompression_bomb_refused_before_decoding():
    # A 10,000 x 8,000 PNG of one colour compresses to a few hundred kB: the classic bomb.
    big = Image.new("L", (10_000, 8_000))
    with pytest.raises(ImageLoadError, match="10000 x 8000 pixels is over the limit"):
        load_image(encode(big, "PNG"))
    assert load_image(encode(Image.new("RGB", (300, 200)), "PNG"), max_pixels=60_000).shape == (200, 300, 3)
    with pytest.raises(ImageLoadError):
        load_image(encode(Image.new("RGB", (300, 200)), "PNG"), max_pixels=59_999)


@pytest.mark.parametrize("shape", [(825, 550), (550, 825), (512, 512), (100, 37), (1000, 1)])
def test_letterbox_geometry(shape):
    h, w = shape
    image = np.full((h, w, 3), 7, np.uint8)
    square, window = letterbox(image, 512)
    assert square.shape == (512, 512, 3)
    assert max(window.scaled_height, window.scaled_width) == 512
    region = window.crop(square)
    assert region.shape[:2] == (window.scaled_height, window.scaled_width) and (region == 7).all()
    assert square.sum() == region.sum()  # the rest is zero padding
    assert abs(window.pad_top - (512 - window.scaled_height - window.pad_top)) <= 1


def test_box_round_trip_is_exact():
    window = LetterboxWindow.fit(825, 550, 512)
    boxes = np.array([[10.5, 20.25, 300.0, 800.0], [0, 0, 550, 825]])
    np.testing.assert_allclose(window.boxes_to_original(window.boxes_to_square(boxes)), boxes, atol=1e-9)


def test_mask_round_trip():
    # Integer scale: the inverse is exact.
    window = LetterboxWindow.fit(128, 256, 512)
    mask = np.zeros((128, 256), bool)
    mask[10:50, 30:200] = True
    mask[60:61, 5:9] = True
    np.testing.assert_array_equal(window.mask_to_original(window.mask_to_square(mask)), mask)
    # Downscaled CCP-sized photo: a blob survives with IoU > 0.97.
    window = LetterboxWindow.fit(825, 550, 512)
    yy, xx = np.mgrid[:825, :550]
    blob = (yy - 400) ** 2 / 200**2 + (xx - 275) ** 2 / 120**2 < 1
    back = window.mask_to_original(window.mask_to_square(blob))
    assert back.shape == blob.shape
    assert (back & blob).sum() / (back | blob).sum() > 0.97
