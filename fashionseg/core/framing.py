"""Re-framing a photo and its instance masks together: crops, zoom-out onto a canvas, people side by side.

Client photos are not framed like CCP's (one person filling a 550 x 825
portrait): they are waist-up shots, small people in wide scenes, groups. The
same few geometric operations serve the robustness variants
(:mod:`fashionseg.evaluation.robustness`) and the training augmentation
(:mod:`fashionseg.models.augment`), so what the models are trained on and what they are
judged on are built by one piece of code.

Every geometric operation here is a scale followed by a translation into a
new frame (:func:`place`); the masks go through the same resize and the same
offsets as the photo, resampled with the same filter and thresholded at 0.5,
so a mask stays on the pixels of its garment. Pixels of the frame that the
photo does not cover are filled with a background (:func:`background`).

Example:
    >>> import numpy as np
    >>> image = np.zeros((40, 20, 3), np.uint8); masks = np.zeros((1, 40, 20), bool); masks[0, 30:, 5:15] = True
    >>> out, out_masks = place(image, masks, scale=0.5, top=10, left=4, frame=(30, 60), fill=np.full((30, 60, 3), 7, np.uint8))
    >>> out.shape, out_masks.shape, int(out_masks[0].sum()), (int(out[0, 0, 0]), int(out[10, 4, 0]))
    ((30, 60, 3), (1, 30, 60), 30, (7, 0))
"""

from __future__ import annotations

import cv2
import numpy as np

BACKGROUNDS = ("solid", "gradient", "texture", "blurred_photo", "extended_edges")


def resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an image (area filter when shrinking: no aliasing; bilinear when growing)."""
    shrinking = height * width < array.shape[0] * array.shape[1]
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(N, H, W)`` bool masks through the same resize as their photo, thresholded at 0.5."""
    out = np.zeros((len(masks), height, width), bool)
    for i, mask in enumerate(masks):
        out[i] = resize(mask.astype(np.float32), height, width) >= 0.5
    return out


def place(
    image: np.ndarray, masks: np.ndarray, scale: float, top: int, left: int, frame: tuple[int, int], fill: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``image`` and ``masks`` by ``scale`` and put the result's top-left corner at ``(top, left)`` of a new frame.

    ``frame`` is ``(height, width)``; ``fill`` (same size, uint8 RGB) shows where the
    photo does not reach. Offsets may be negative and the scaled photo may be
    larger than the frame: then the frame is a crop of it.
    """
    frame_h, frame_w = frame
    h, w = image.shape[:2]
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    if (new_h, new_w) != (h, w):
        image, masks = resize(image, new_h, new_w), resize_masks(masks, new_h, new_w)
    out = fill.copy()
    out_masks = np.zeros((len(masks), frame_h, frame_w), bool)
    # overlap of the scaled photo [top, top + new_h) x [left, left + new_w) with the frame
    y0, y1 = max(top, 0), min(top + new_h, frame_h)
    x0, x1 = max(left, 0), min(left + new_w, frame_w)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = image[y0 - top : y1 - top, x0 - left : x1 - left]
        out_masks[:, y0:y1, x0:x1] = masks[:, y0 - top : y1 - top, x0 - left : x1 - left]
    return out, out_masks


def crop(
    image: np.ndarray, masks: np.ndarray, top: int, left: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``height`` x ``width`` window at ``(top, left)`` (inside the photo) of a photo and its masks."""
    return image[top : top + height, left : left + width].copy(), masks[
        :, top : top + height, left : left + width
    ].copy()


def background(
    kind: str,
    frame: tuple[int, int],
    rng: np.random.Generator,
    donor: np.ndarray | None = None,
    photo: np.ndarray | None = None,
) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 background of one of :data:`BACKGROUNDS`.

    ``blurred_photo`` stretches ``donor`` (another photo) over the frame and blurs
    it until no garment can be made out (so no unlabelled garment appears);
    ``extended_edges`` continues ``photo``'s own border pixels outwards and blurs
    them, so the photo has no visible edge, like a wider shot of the same wall.
    """
    h, w = frame
    if kind == "solid":
        return np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (h, w, 3)).copy()
    if kind == "gradient":
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0.0, 1.0, h if rng.random() < 0.5 else w, dtype=np.float32)
        t = t[:, None, None] if len(t) == h else t[None, :, None]
        return np.broadcast_to(a + (b - a) * t, (h, w, 3)).astype(np.uint8)
    if kind == "texture":  # blotches around one colour, with grain: walls, floors, foliage out of focus
        cells = (max(2, h // 48), max(2, w // 48), 3)
        small = rng.integers(30, 226, 3) + rng.normal(0.0, 30.0, cells)
        base = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        grain = rng.normal(0.0, 6.0, (h, w, 1))
        return np.clip(base + grain, 0, 255).astype(np.uint8)
    if kind == "blurred_photo":
        if donor is None:
            return background("texture", frame, rng)
        sigma = max(h, w) / 40
        return cv2.GaussianBlur(resize(donor, h, w), (0, 0), sigma)
    if kind == "extended_edges":
        if photo is None:
            return background("gradient", frame, rng)
        # the photo's outermost rows/columns stretched over the frame, then blurred
        _ph, _pw = photo.shape[:2]
        border = np.concatenate(
            [
                photo[:, :2].reshape(-1, 3),
                photo[:, -2:].reshape(-1, 3),
                photo[:2].reshape(-1, 3),
                photo[-2:].reshape(-1, 3),
            ]
        ).astype(np.float32)
        left_col = resize(photo[:, :1], h, 1).astype(np.float32)
        right_col = resize(photo[:, -1:], h, 1).astype(np.float32)
        t = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
        out = left_col * (1 - t) + right_col * t
        out = 0.7 * out + 0.3 * border.mean(axis=0)
        return cv2.GaussianBlur(np.clip(out, 0, 255).astype(np.uint8), (0, 0), max(h, w) / 60)
    raise ValueError(f"unknown background {kind!r}; one of {BACKGROUNDS}")


def zoom_out(
    image: np.ndarray,
    masks: np.ndarray,
    person_scale: float,
    aspect: float,
    rng: np.random.Generator,
    kind: str,
    donor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The photo at ``person_scale`` of the frame's height in a frame of width/height ``aspect``, at a random place.

    The frame keeps the photo's height in pixels, so only the photo is
    downsampled (as a wider shot taken with the same camera would be).
    """
    h = image.shape[0]
    frame = (h, max(1, round(h * aspect)))
    new_h, new_w = round(h * person_scale), round(image.shape[1] * person_scale)
    new_w = min(new_w, frame[1])  # a very narrow frame: keep the photo inside it
    top = int(rng.integers(0, max(frame[0] - new_h, 0) + 1))
    left = int(rng.integers(0, max(frame[1] - new_w, 0) + 1))
    fill = background(kind, frame, rng, donor=donor, photo=image)
    return place(image, masks, person_scale, top, left, frame, fill)


def side_by_side(
    photos: list[tuple[np.ndarray, np.ndarray]],
    frame: tuple[int, int],
    person_scale: float,
    rng: np.random.Generator,
    kind: str,
    donor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Several photos (each with its masks) scaled to ``person_scale`` of the frame height, left to right.

    Each photo gets an equal share of the frame's width and is centred in it
    with a little random jitter; a photo wider than its share is scaled down
    to fit, so photos never overlap (a pasted rectangle would hide the one below).
    """
    frame_h, frame_w = frame
    slot = frame_w / len(photos)
    out = background(kind, frame, rng, donor=donor, photo=photos[0][0])
    all_masks = []
    for i, (image, masks) in enumerate(photos):
        h, w = image.shape[:2]
        scale = min(person_scale * frame_h / h, slot / w)
        new_h, new_w = round(h * scale), round(w * scale)
        left = int(i * slot + (slot - new_w) / 2 + rng.uniform(-0.5, 0.5) * max(slot - new_w, 0))
        top = int(rng.integers(0, max(frame_h - new_h, 0) + 1))
        out, placed = place(image, masks, scale, top, left, frame, out)
        all_masks.append(placed)
    return out, np.concatenate(all_masks) if all_masks else np.zeros((0, frame_h, frame_w), bool)


def drop_small(masks: np.ndarray, min_area: int) -> np.ndarray:
    """Which masks keep at least ``min_area`` pixels (instances cut away by a crop or shrunk to specks go)."""
    if len(masks) == 0:
        return np.zeros(0, bool)
    return masks.reshape(len(masks), -1).sum(axis=1) >= min_area


def darken(image: np.ndarray, gamma: float) -> np.ndarray:
    """Low light as a camera's gamma: ``255 * (x / 255) ** gamma`` (gamma > 1 darkens)."""
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)
    return lut[image]


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """An RGB photo as JPEG bytes at ``quality`` (1-100), as a client's camera would hand it over."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return data.tobytes()


def rotate(image: np.ndarray, masks: np.ndarray, degrees: float, fill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate about the centre by ``degrees`` (counter-clockwise), same frame; uncovered corners show ``fill``."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    covered = cv2.warpAffine(np.ones((h, w), np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR) >= 0.5
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = np.where(covered[:, :, None], out, fill)
    out_masks = np.zeros_like(masks)
    for i, mask in enumerate(masks):
        out_masks[i] = cv2.warpAffine(mask.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR) >= 0.5
    return out.astype(np.uint8), out_masks
