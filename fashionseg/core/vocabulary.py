"""Class vocabularies: the thesis' 11 classes, its base 5, iMaterialist's 46, CCP's 59.

The vocabularies live in ``fashionseg/data/vocabularies.yaml``; this module only
reads them.

Example:
    >>> from fashionseg.core.vocabulary import FASHIONSEG11
    >>> FASHIONSEG11.id_of("shoe")
    8
    >>> FASHIONSEG11.names[:2]
    ('shirt, blouse', 'top, t-shirt, sweatshirt')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    supercategory: str = ""


@dataclass(frozen=True)
class Vocabulary:
    """An ordered list of categories with unique ids and names."""

    name: str
    categories: tuple[Category, ...]

    def __post_init__(self) -> None:
        ids = [c.id for c in self.categories]
        names = [c.name for c in self.categories]
        if len(set(ids)) != len(ids) or len(set(names)) != len(names):
            raise ValueError(f"vocabulary {self.name!r} has duplicate ids or names")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def id_of(self, name: str) -> int:
        for c in self.categories:
            if c.name == name:
                return c.id
        raise KeyError(f"{name!r} is not a class of {self.name}; classes: {', '.join(self.names)}")

    def name_of(self, category_id: int) -> str:
        for c in self.categories:
            if c.id == category_id:
                return c.name
        raise KeyError(f"no category id {category_id} in {self.name}")

    def coco_categories(self) -> list[dict]:
        """The vocabulary as a COCO ``categories`` list."""
        return [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in self.categories]


@cache
def _raw() -> dict:
    text = resources.files("fashionseg").joinpath("data/vocabularies.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_vocabulary(name: str) -> Vocabulary:
    """Load a vocabulary by its key in ``vocabularies.yaml``."""
    raw = _raw()
    if name not in raw:
        raise KeyError(f"unknown vocabulary {name!r}; known: {', '.join(raw)}")
    entries = raw[name]
    if name == "base5":
        full = load_vocabulary("fashionseg11")
        cats = tuple(full.categories[full.ids.index(full.id_of(n))] for n in entries)
    elif name == "ccp59":
        cats = tuple(Category(i, n) for i, n in enumerate(entries))
    else:
        cats = tuple(Category(int(e["id"]), str(e["name"]), str(e.get("supercategory", ""))) for e in entries)
    return Vocabulary(name, cats)


FASHIONSEG11 = load_vocabulary("fashionseg11")
BASE5 = load_vocabulary("base5")
IMATERIALIST46 = load_vocabulary("imaterialist46")
CCP59 = load_vocabulary("ccp59")
