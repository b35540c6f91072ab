"""Label mappings from a source vocabulary onto the 11 FashionSeg classes.

A mapping is data (YAML under ``fashionseg/data/mappings``, or any file a user
edits): each source label maps to nothing, one class, or several (``shoes`` ->
two ``shoe``: a client counting pairs). Labels that map to nothing, or that the
mapping does not know, are dropped and counted.

Example:
    >>> from fashionseg.core.mapping import load_mapping
    >>> client = load_mapping("client")
    >>> result = client.apply(["shoes", "jean", "hat"])
    >>> dict(result.counts), dict(result.dropped)
    ({'shoe': 2, 'pants': 1}, {'hat': 1})
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from fashionseg.core.vocabulary import FASHIONSEG11, Vocabulary
from fashionseg.exceptions import MappingError

BUILTIN_MAPPINGS = ("ccp", "imaterialist", "client")


@dataclass(frozen=True)
class MappedLabels:
    """The outcome of mapping a bag of source labels."""

    counts: Counter  # target class name -> number of objects
    dropped: Counter  # source label -> how often it was dropped
    sources: dict  # target class name -> source labels that produced it, in order

    @property
    def classes(self) -> list[str]:
        return list(self.counts)


@dataclass
class LabelMapping:
    """Source label -> tuple of target class names (empty tuple: dropped)."""

    name: str
    rules: dict[str, tuple[str, ...]]
    target: Vocabulary = field(default=FASHIONSEG11)

    def __post_init__(self) -> None:
        for label, classes in self.rules.items():
            unknown = [c for c in classes if c not in self.target]
            if unknown:
                raise MappingError(
                    f"mapping {self.name!r}: label {label!r} maps to unknown class(es) {unknown}; "
                    f"classes are: {', '.join(self.target.names)}"
                )

    @classmethod
    def from_dict(cls, data: Mapping, target: Vocabulary = FASHIONSEG11) -> LabelMapping:
        if not isinstance(data, Mapping) or not isinstance(data.get("rules"), Mapping):
            raise MappingError("a mapping needs a 'rules' table of label: class")
        rules: dict[str, tuple[str, ...]] = {}
        for label, value in data["rules"].items():
            rules[str(label)] = _normalise_rule(label, value)
        return cls(str(data.get("name", "custom")), rules, target)

    def to_dict(self) -> dict:
        def encode(classes: tuple[str, ...]):
            if not classes:
                return None
            return classes[0] if len(classes) == 1 else list(classes)

        return {"name": self.name, "rules": {label: encode(c) for label, c in self.rules.items()}}

    def classes_for(self, label: str) -> tuple[str, ...]:
        return self.rules.get(label, ())

    def class_ids_for(self, label: str) -> tuple[int, ...]:
        return tuple(self.target.id_of(c) for c in self.classes_for(label))

    def label_counts(self, label: str) -> list[tuple[str | None, int]]:
        """``(class, count)`` per class a source label maps to, or ``[(None, 0)]`` if it is dropped.

        The rows of an image's image-level labels for one raw label:

        >>> client = load_mapping("client")
        >>> client.label_counts("shoes"), client.label_counts("hat")
        ([('shoe', 2)], [(None, 0)])
        """
        classes = self.classes_for(label)
        if not classes:
            return [(None, 0)]
        return [(name, classes.count(name)) for name in dict.fromkeys(classes)]

    def apply(self, labels: Iterable[str]) -> MappedLabels:
        counts: Counter = Counter()
        dropped: Counter = Counter()
        sources: dict[str, list[str]] = {}
        for label in labels:
            classes = self.classes_for(label)
            if not classes:
                dropped[label] += 1
            for c in classes:
                counts[c] += 1
                sources.setdefault(c, [])
                if label not in sources[c]:
                    sources[c].append(label)
        return MappedLabels(counts, dropped, sources)

    def with_rule(self, label: str, classes: Iterable[str]) -> LabelMapping:
        """A copy with one rule replaced (an empty ``classes`` drops the label)."""
        rules = dict(self.rules)
        rules[label] = _normalise_rule(label, list(classes))
        return LabelMapping(self.name, rules, self.target)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


def _normalise_rule(label, value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MappingError(f"rule for {label!r} must be a class name, a list of class names or null, not {value!r}")


def load_mapping(name_or_path: str | Path) -> LabelMapping:
    """Load a built-in mapping (``ccp``, ``imaterialist``, ``client``) or a YAML/JSON file."""
    if str(name_or_path) in BUILTIN_MAPPINGS:
        text = resources.files("fashionseg").joinpath(f"data/mappings/{name_or_path}.yaml").read_text(encoding="utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise MappingError(f"no mapping file {path} (built-in mappings: {', '.join(BUILTIN_MAPPINGS)})")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise MappingError(
                f"mapping {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
            ) from None
        except OSError as exc:
            raise MappingError(f"mapping {path} cannot be read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)  # JSON is a subset of YAML
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping {name_or_path} is not valid YAML/JSON: {exc}") from exc
    try:
        return LabelMapping.from_dict(data)
    except MappingError as exc:
        raise MappingError(f"mapping {name_or_path}: {exc}") from None


def mapping_table(mapping: LabelMapping) -> list[dict]:
    """One row per source label, for display: label, classes, count, dropped."""
    return [
        {
            "label": label,
            "maps to": ", ".join(dict.fromkeys(classes)) or "(dropped)",
            "objects per label": len(classes),
            "dropped": not classes,
        }
        for label, classes in mapping.rules.items()
    ]
