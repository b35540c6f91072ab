"""Loading photos safely, and fitting them into the model's square window.

Every way a photo can be bad (not an image, truncated, a decompression bomb, an
exotic mode) ends in one exception type, :class:`ImageLoadError`, whose message
says why, so callers (CLI, app, converters) need to catch one thing only.

Example:
    >>> import numpy as np
    >>> from fashionseg.core.images import letterbox
    >>> square, window = letterbox(np.zeros((825, 550, 3), np.uint8), 512)
    >>> square.shape, window.scale, (window.pad_top, window.pad_left)
    ((512, 512, 3), 0.6206060606060606, (0, 85))
"""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fashionseg.exceptions import ImageLoadError

# 50 megapixels: above any phone camera, well below the 10,000 x 8,000 (80 MP) bombs a
# demo should refuse; decoding one of those takes 240 MB before any resize.
DEFAULT_MAX_PIXELS = 50_000_000
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO")


def load_image(
    source: str | Path | bytes | BinaryIO,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    background: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Decode a photo into an ``(H, W, 3)`` uint8 RGB array, upright.

    Applies the EXIF orientation; converts grayscale, palette, CMYK and 16-bit
    images to 8-bit RGB; composites transparent images over ``background``
    (white, like a product photo). Refuses images over ``max_pixels`` before
    decoding them.

    Raises:
        ImageLoadError: missing, empty, not an image, unsupported format,
            truncated, or too large.
    """
    name = str(source) if isinstance(source, (str, Path)) else "uploaded image"
    stream = _open_stream(source, name)
    with _pil_errors(name), _opened(stream, name, max_pixels) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        return _to_rgb(im, background)


def read_image_size(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(height, width)`` of a photo file from its header, without decoding it (as stored, before EXIF rotation).

    Raises:
        ImageLoadError: missing, not an image, unsupported format, or over ``max_pixels``.
    """
    name = str(path)
    if not Path(path).is_file():
        raise ImageLoadError(f"{name}: no such file")
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed by the with below; opened apart to tell OS errors from image errors)
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    with stream, _pil_errors(name), _opened(stream, name, max_pixels) as im:
        return im.size[1], im.size[0]


@contextmanager
def _opened(stream: BinaryIO, name: str, max_pixels: int):
    """The image of ``stream`` with its header checked: an accepted format, at most ``max_pixels``."""
    with warnings.catch_warnings():
        # PIL warns (and above 2x its limit raises) on bombs; we check ourselves.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(stream) as im:
            if im.format not in ACCEPTED_FORMATS:
                raise ImageLoadError(f"{name}: unsupported image format {im.format}")
            width, height = im.size
            if width * height > max_pixels:
                raise ImageLoadError(
                    f"{name}: {width} x {height} pixels is over the limit of "
                    f"{max_pixels / 1e6:.0f} megapixels; downscale it first"
                )
            yield im


@contextmanager
def _pil_errors(name: str):
    """Every way PIL fails on a bad file, as one :class:`ImageLoadError`."""
    try:
        yield
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not an image, or a format we cannot read") from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{name}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # PIL reports truncated or corrupt data as OSError/SyntaxError/ValueError.
        raise ImageLoadError(f"{name}: corrupt or truncated image ({exc})") from None


def _open_stream(source, name: str) -> BinaryIO:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"{name}: no such file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageLoadError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = source.read()
    if not data:
        raise ImageLoadError(f"{name}: empty file")
    return io.BytesIO(data)


def _to_rgb(im: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float grayscale: stretch the used range onto 0-255.
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if im.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        canvas.alpha_composite(rgba)
        im = canvas
    rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)


@dataclass(frozen=True)
class LetterboxWindow:
    """Where an original image sits inside the square model input.

    ``scale`` maps original pixels to square pixels; the scaled image occupies
    rows ``pad_top : pad_top + scaled_height`` and columns
    ``pad_left : pad_left + scaled_width``; the rest is zero padding.
    """

    original_height: int
    original_width: int
    size: int
    scale: float
    pad_top: int
    pad_left: int

    @property
    def scaled_height(self) -> int:
        return max(1, round(self.original_height * self.scale))

    @property
    def scaled_width(self) -> int:
        return max(1, round(self.original_width * self.scale))

    @classmethod
    def fit(cls, height: int, width: int, size: int) -> LetterboxWindow:
        if height <= 0 or width <= 0 or size <= 0:
            raise ValueError(f"cannot letterbox a {height} x {width} image into {size} px")
        scale = size / max(height, width)
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        return cls(height, width, size, scale, (size - h) // 2, (size - w) // 2)

    def boxes_to_original(self, boxes: np.ndarray) -> np.ndarray:
        """``(N, 4)`` boxes ``x1, y1, x2, y2`` in square pixels -> original pixels (clipped)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        out = np.empty_like(boxes)
        out[:, [0, 2]] = (boxes[:, [0, 2]] - self.pad_left) / self.scale
        out[:, [1, 3]] = (boxes[:, [1, 3]] - self.pad_top) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.original_width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.original_height)
        return out

    def boxes_to_square(self, boxes: np.ndarray) -> np.ndarray:
        """``(N, 4)`` boxes ``x1, y1, x2, y2`` in original pixels -> square pixels."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        out = np.empty_like(boxes)
        out[:, [0, 2]] = boxes[:, [0, 2]] * self.scale + self.pad_left
        out[:, [1, 3]] = boxes[:, [1, 3]] * self.scale + self.pad_top
        return out

    def crop(self, square: np.ndarray) -> np.ndarray:
        """The part of a square array (image, mask or probability map) that is not padding."""
        return square[
            self.pad_top : self.pad_top + self.scaled_height, self.pad_left : self.pad_left + self.scaled_width
        ]

    def mask_to_original(self, square_mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """A square ``(size, size)`` mask or probability map -> boolean mask at original size.

        Probabilities are resized with bilinear interpolation before thresholding,
        so the original-resolution edge is smooth rather than blocky.
        """
        region = self.crop(np.asarray(square_mask)).astype(np.float32)
        resized = cv2.resize(region, (self.original_width, self.original_height), interpolation=cv2.INTER_LINEAR)
        return resized >= threshold

    def mask_to_square(self, mask: np.ndarray) -> np.ndarray:
        """An original-size boolean mask -> square boolean mask (nearest neighbour)."""
        resized = cv2.resize(
            mask.astype(np.uint8), (self.scaled_width, self.scaled_height), interpolation=cv2.INTER_NEAREST
        )
        out = np.zeros((self.size, self.size), dtype=bool)
        out[self.pad_top : self.pad_top + self.scaled_height, self.pad_left : self.pad_left + self.scaled_width] = (
            resized > 0
        )
        return out


def letterbox(image: np.ndarray, size: int = 512) -> tuple[np.ndarray, LetterboxWindow]:
    """Resize an image to fit a ``size`` x ``size`` window, keeping its aspect, and zero-pad it.

    This is the thesis' resizing (Section 4.2.2, matterport's ``square`` mode):
    the longer side becomes ``size``, the shorter is padded equally on both sides.
    Downscaling uses area interpolation, upscaling bilinear.
    """
    height, width = image.shape[:2]
    window = LetterboxWindow.fit(height, width, size)
    interpolation = cv2.INTER_AREA if window.scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (window.scaled_width, window.scaled_height), interpolation=interpolation)
    square = np.zeros((size, size) + image.shape[2:], dtype=image.dtype)
    square[
        window.pad_top : window.pad_top + window.scaled_height, window.pad_left : window.pad_left + window.scaled_width
    ] = resized
    return square, window
