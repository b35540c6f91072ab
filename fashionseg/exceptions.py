"""Every error a user can cause (a bad file, argument, model folder or store), in one hierarchy.

Catch :class:`FashionSegError` to report any of them: its message names the
file or value and says what is wrong, so the CLI prints it as one ``error:``
line (exit status 2) and the app shows it as is. Anything else that escapes
is a bug. The classes also derive from the built-in type their callers
caught before the hierarchy existed (``ValueError``, ``FileNotFoundError``,
``RuntimeError``), so older ``except`` clauses keep working; each is still
importable from the module that used to define it.

Example:
    >>> from fashionseg.exceptions import FashionSegError, InvalidCocoError
    >>> try:
    ...     raise InvalidCocoError("a.json", ["image 1: height 'abc' is not an integer"])
    ... except FashionSegError as exc:
    ...     print(f"error: {exc}")
    error: a.json: image 1: height 'abc' is not an integer
"""

from __future__ import annotations


class FashionSegError(Exception):
    """Base class: an error the user can fix; the message says what and where."""


class UsageError(FashionSegError, ValueError):
    """A command-line argument or API value is out of range, malformed or contradicts another."""


class InvalidInputError(FashionSegError, ValueError):
    """An input file is malformed: wrong format, encoding, types or values."""


class InvalidCocoError(InvalidInputError):
    """A COCO document is malformed; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{source}: {shown}{more}")


CocoFormatError = InvalidCocoError  # the name before the hierarchy


class CCPFormatError(InvalidInputError):
    """A CCP folder or file does not have CCP's layout or contents."""


class IMaterialistFormatError(InvalidInputError):
    """A ``train.csv`` or ``label_descriptions.json`` is not in the Kaggle format."""


class MappingError(InvalidInputError):
    """A mapping file or rule is malformed or names an unknown class."""


class ImageLoadError(InvalidInputError):
    """A photo could not be turned into an RGB array; the message says why."""


class CanvasDrawingError(InvalidInputError):
    """The canvas sent shapes that cannot be turned into a mask."""


class ModelFolderError(FashionSegError, ValueError):
    """A model folder is broken: unreadable or foreign config, truncated or mismatched weights."""


class ModelNotTrainedError(ModelFolderError, FileNotFoundError):
    """No trained model where one was asked for."""


class EvaluationNotFoundError(FashionSegError, FileNotFoundError):
    """An experiments record points at a metrics file that is gone."""


class StoreError(FashionSegError, ValueError):
    """A request the store cannot carry out: unknown data set or image, bad values, unusable database."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """A command that only reads (or changes existing data) named a store that does not exist."""


class StoreBusyError(StoreError):
    """Another process held the store's write lock for longer than the busy timeout."""


class StoreUnreachableError(StoreError, ConnectionError):
    """The store's database server cannot be reached or refuses us: not running, wrong password,
    no such database. Nothing was read or written; the caller's unsaved work is untouched."""


class StoreSchemaError(StoreError):
    """The store's schema is older than this FashionSeg's (``fashionseg store upgrade``) or newer
    than any it knows (a newer FashionSeg made it)."""


class RayClusterError(FashionSegError, ConnectionError):
    """The Ray cluster cannot be started or reached (``--ray-address``, or a local one)."""


class ConflictError(FashionSegError, RuntimeError):
    """Someone saved the image after the revision this save was based on; nothing was written."""

    def __init__(self, image_id: int, expected: int, current: int, last_author: str | None):
        self.image_id, self.expected, self.current, self.last_author = image_id, expected, current, last_author
        who = f" by {last_author}" if last_author else ""
        super().__init__(
            f"image {image_id} was saved{who} since you opened it (your revision {expected}, now {current}); "
            "reload it to see their changes. Your edits were not saved."
        )
