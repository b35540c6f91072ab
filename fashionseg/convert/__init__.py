"""Converters from public fashion data sets to FashionSeg's COCO files."""

from fashionseg.convert.ccp import convert_ccp
from fashionseg.convert.fashionpedia import convert_fashionpedia
from fashionseg.convert.imaterialist import convert_imaterialist

__all__ = ["convert_ccp", "convert_fashionpedia", "convert_imaterialist"]
