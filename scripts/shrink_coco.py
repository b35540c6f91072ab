"""Shrink a COCO set (photos and masks together) to a smaller long side, to carry it to a training machine.

The accelerator we train on is reached by copying the repository with at most
64 MiB beside it; CCP's photos at 550 x 825 are 102 MB. The Mask R-CNN trains
at a 512 px input, so photos shrunk to a 640 px long side lose little: the
full photo reaches the model at the same resolution, and only the re-framing
augmentation's zoom-in crops (a waist-up crop is about half the photo)
are upsampled from fewer pixels. Masks are resized with their photos (the
photo's area filter, thresholded at half), and each image's ``width``/``height`` and each annotation's
``area``/``bbox`` are rewritten, so the result is an ordinary COCO file for
``fashionseg train maskrcnn --instances ... --images ...``. Each image's
split is written out (``split``), since the split of a photo without one
follows from its file name, which the new format changes.

    python scripts/shrink_coco.py --coco runs/pseudo2/merged.json --images ../shared/datasets/ccp/photos \
        --out .gpu/ccp --max-side 640 --quality 85
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fashionseg.core.coco import annotations_by_image, read_coco, validate_coco, write_coco
from fashionseg.core.framing import resize, resize_masks
from fashionseg.core.images import load_image
from fashionseg.core.masks import decode_rle, encode_rle, mask_bbox, segmentation_to_rle
from fashionseg.core.split import split_of

QUALITY_FLAG = {".jpg": cv2.IMWRITE_JPEG_QUALITY, ".webp": cv2.IMWRITE_WEBP_QUALITY}


def shrink_coco(coco: dict, images_dir: Path, out_dir: Path, max_side: int, quality: int, suffix: str = ".jpg") -> dict:
    """Writes the shrunk photos under ``out_dir/photos`` and returns the rewritten COCO dict."""
    photos = out_dir / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    per_image = annotations_by_image(coco)
    images, annotations, written = [], [], {}
    for im in tqdm(coco["images"], desc="shrinking", unit="photo"):
        image = load_image(images_dir / im["file_name"])
        h, w = image.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        if scale < 1.0:
            image = resize(image, nh, nw)
        name = Path(im["file_name"]).with_suffix(suffix)
        if name in written:
            raise ValueError(f"{im['file_name']} and {written[name]} would both be written as {name}")
        written[name] = im["file_name"]
        (photos / name).parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(suffix, image[..., ::-1], [QUALITY_FLAG[suffix], quality])
        if not ok:
            raise RuntimeError(f"could not encode {name}")
        (photos / name).write_bytes(data.tobytes())
        images.append({**im, "file_name": str(name), "width": nw, "height": nh, "split": split_of(im)})
        for ann in per_image.get(im["id"], []):
            mask = decode_rle(segmentation_to_rle(ann["segmentation"], h, w))
            if scale < 1.0:
                mask = resize_masks(mask[None], nh, nw)[0]
            if not mask.any():  # a sliver that vanished at the smaller size
                continue
            annotations.append(
                {**ann, "segmentation": encode_rle(mask), "area": int(mask.sum()), "bbox": mask_bbox(mask)}
            )
    return {**coco, "images": images, "annotations": annotations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coco", required=True, type=Path)
    parser.add_argument("--images", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="folder: instances.json and photos/")
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--quality", type=int, default=85, help="JPEG or WebP quality of the written photos")
    parser.add_argument(
        "--format", choices=("jpg", "webp"), default="jpg", help="WebP: about a third smaller at the same quality"
    )
    args = parser.parse_args()
    coco = validate_coco(read_coco(args.coco), str(args.coco))
    shrunk = shrink_coco(coco, args.images, args.out, args.max_side, args.quality, f".{args.format}")
    write_coco(shrunk, args.out / "instances.json")
    sizes = [p.stat().st_size for p in (args.out / "photos").rglob(f"*.{args.format}")]
    print(
        f"{len(shrunk['images'])} photos ({sum(sizes) / 2**20:.1f} MiB, median {np.median(sizes) / 1024:.0f} KiB), "
        f"{len(shrunk['annotations'])} instances -> {args.out}"
    )


if __name__ == "__main__":
    main()
