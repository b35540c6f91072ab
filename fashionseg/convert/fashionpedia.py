"""Fashionpedia COCO JSON -> COCO in the 11-class vocabulary.

Fashionpedia uses iMaterialist's 46 categories; categories are matched by name
through the ``imaterialist`` mapping, segmentations (polygons or RLE) become
compressed RLE, boxes and areas are recomputed from the masks, attributes are
dropped like the thesis did.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fashionseg.core.coco import read_coco, validate_coco, write_coco
from fashionseg.core.mapping import LabelMapping, load_mapping
from fashionseg.core.masks import rle_area, rle_bbox
from fashionseg.core.split import DEFAULT_SALT, DEFAULT_VAL_FRACTION, assign_split
from fashionseg.core.vocabulary import FASHIONSEG11


def convert_fashionpedia(
    source: str | Path,
    out: str | Path,
    mapping: LabelMapping | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    salt: str = DEFAULT_SALT,
) -> dict:
    """Convert a Fashionpedia annotation file; returns a summary of what was kept and dropped."""
    mapping = mapping or load_mapping("imaterialist")
    data = validate_coco(read_coco(source), str(source))
    names = {c["id"]: c["name"] for c in data["categories"]}
    images = [
        {
            "id": im["id"],
            "file_name": im["file_name"],
            "height": int(im["height"]),
            "width": int(im["width"]),
            "split": assign_split(im["file_name"], val_fraction, salt),
        }
        for im in data["images"]
    ]
    annotations, kept, dropped = [], Counter(), Counter()
    for ann in sorted(data["annotations"], key=lambda a: a["id"]):
        classes = mapping.classes_for(names[ann["category_id"]])
        if not classes:
            dropped[names[ann["category_id"]]] += 1
        for class_name in classes:
            rle = ann["segmentation"]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": ann["image_id"],
                    "category_id": FASHIONSEG11.id_of(class_name),
                    "segmentation": rle,
                    "area": rle_area(rle),
                    "bbox": rle_bbox(rle),
                    "iscrowd": int(ann.get("iscrowd", 0)),
                }
            )
            kept[class_name] += 1
    summary = {"images": len(images), "instances": dict(kept), "dropped_labels": dict(sorted(dropped.items()))}
    write_coco(
        {
            "images": images,
            "annotations": annotations,
            "categories": FASHIONSEG11.coco_categories(),
            "fashionseg": {
                "converter": "fashionseg convert fashionpedia",
                "source": str(source),
                "mapping": mapping.to_dict(),
                "report": summary,
            },
        },
        out,
    )
    return summary
