"""New data sets from the app: a folder of photos, uploaded photos or zips of them, a COCO file, or the sample data.

Each way ends in the store's own import (:func:`fashionseg.store.prepare_import`
then :func:`~fashionseg.store.write_import`), so the app checks exactly what
``fashionseg store import`` checks, all before anything is written: a refused
import leaves no data set and no uploaded copies behind. A folder of photos
becomes a COCO document with images only (their sizes read from the file
headers, the split from :func:`fashionseg.core.split.assign_split`) and the 11
classes. Uploads are copied to :func:`fashionseg.settings.uploads_dir`, since
the store keeps each data set's folder and a browser upload lasts only as long
as its session.

``on_progress(stage, done, total)`` reports long steps (reading the photos'
headers, the store's checks) to a progress bar.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.zeros((30, 20, 3), np.uint8)).save(folder / "a.jpg")
    >>> (folder / "notes.txt").write_text("not a photo")
    11
    >>> document = photos_document(folder, photo_files(folder))
    >>> [(im["file_name"], im["width"], im["height"]) for im in document["images"]], document["annotations"]
    ([('a.jpg', 20, 30)], [])
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from fashionseg import settings
from fashionseg.core.coco import file_name_problem, parse_coco
from fashionseg.core.images import read_image_size
from fashionseg.core.split import assign_split
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.exceptions import ImageLoadError, InvalidCocoError, StoreError, UsageError
from fashionseg.store import AnnotationStore, prepare_import, write_import

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# A zip may say its members are small and inflate to far more (a zip bomb): members are
# read in blocks and the whole upload stops at this many bytes of photos.
MAX_UPLOAD_BYTES = 4 << 30
MAX_PHOTOS = 50_000

Progress = Callable[[str, int, int], None]


def _ignored(path: PurePosixPath) -> bool:
    """Hidden files and folders, and the resource forks macOS puts into zips."""
    return any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


def photo_files(folder: str | Path) -> list[str]:
    """The photos under ``folder`` (subfolders too) as sorted relative paths; hidden files are left out."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder")
    found = []
    for path in root.rglob("*"):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES and not _ignored(relative):
            found.append(str(relative))
    return sorted(found)


def photos_document(folder: str | Path, names: list[str], on_progress: Progress | None = None) -> dict:
    """A COCO document of the photos ``names`` (relative to ``folder``): images only, the 11 classes.

    Raises:
        InvalidCocoError: no photos, or photos that cannot be read (every one listed).
    """
    folder = Path(folder)
    if not names:
        raise InvalidCocoError(str(folder), [f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {folder}"])
    if len(names) > MAX_PHOTOS:
        raise InvalidCocoError(str(folder), [f"{len(names)} photos; one import takes at most {MAX_PHOTOS}"])
    images, problems = [], []
    for n, name in enumerate(names):
        if on_progress is not None and n % 25 == 0:
            on_progress("reading the photos", n, len(names))
        try:
            height, width = read_image_size(folder / name)
        except (ImageLoadError, OSError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        images.append(
            {"id": len(images) + 1, "file_name": name, "width": width, "height": height, "split": assign_split(name)}
        )
    if problems:
        raise InvalidCocoError(str(folder), problems)
    return {"images": images, "annotations": [], "categories": FASHIONSEG11.coco_categories()}


def import_folder(
    store: AnnotationStore, folder: str | Path, dataset: str, author: str, on_progress: Progress | None = None
) -> int:
    """Import every photo under a folder of this machine as a new data set (the photos stay where they are)."""
    _check_name(store, dataset)
    folder = Path(folder).expanduser()
    document = photos_document(folder, photo_files(folder), on_progress)
    return _import(store, document, folder, dataset, author, str(folder), on_progress)


def import_uploads(
    store: AnnotationStore,
    uploads: list[tuple[str, bytes]],
    dataset: str,
    author: str,
    on_progress: Progress | None = None,
) -> int:
    """Import uploaded photos and zips of photos as a new data set; they are copied to the uploads folder.

    Nothing is kept when the import is refused: neither a data set nor the copies.
    """
    _check_name(store, dataset)
    if not uploads:
        raise UsageError("choose photos or a zip of photos to upload")
    folder = _new_upload_folder(dataset)
    try:
        names = save_uploads(uploads, folder)
        return _import(
            store,
            photos_document(folder, names, on_progress),
            folder,
            dataset,
            author,
            f"{len(uploads)} uploaded file(s)",
            on_progress,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def import_coco_upload(
    store: AnnotationStore,
    data: bytes,
    file_name: str,
    image_dir: str,
    dataset: str,
    author: str,
    on_progress: Progress | None = None,
) -> int:
    """An uploaded COCO file with the folder (on this machine) its ``file_name`` values are relative to."""
    _check_name(store, dataset)
    if not image_dir.strip():
        raise UsageError("give the folder the COCO file's file_name values are relative to")
    return _import(
        store,
        parse_coco(data, file_name),
        Path(image_dir.strip()).expanduser(),
        dataset,
        author,
        file_name,
        on_progress,
    )


def save_uploads(uploads: list[tuple[str, bytes]], folder: Path) -> list[str]:
    """Write uploaded photos (and the photos inside uploaded zips) into ``folder``; returns their relative paths.

    Two uploads of one name (two phones' ``image.jpg``) are both kept, the second as ``image-2.jpg``.

    Raises:
        InvalidCocoError: a file that is neither a photo nor a zip, a broken zip, or one over the size limit.
    """
    written: list[str] = []
    taken: set[str] = set()
    problems: list[str] = []
    budget = [MAX_UPLOAD_BYTES]

    def place(name: str, data_blocks) -> None:
        path = PurePosixPath(name)
        stem, suffix, parent = path.stem, path.suffix, path.parent
        candidate, k = str(path), 1
        while candidate.lower() in taken:
            k += 1
            candidate = str(parent / f"{stem}-{k}{suffix}")
        taken.add(candidate.lower())
        target = folder / candidate
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            for block in data_blocks:
                budget[0] -= len(block)
                if budget[0] < 0:
                    raise InvalidCocoError(
                        "upload", [f"the photos come to more than {MAX_UPLOAD_BYTES >> 30} GB; import them in parts"]
                    )
                out.write(block)
        written.append(candidate)

    for upload_name, data in uploads:
        base = PurePosixPath(upload_name.replace("\\", "/")).name or "photo"
        suffix = PurePosixPath(base).suffix.lower()
        if suffix == ".zip":
            _extract_zip(upload_name, data, place, problems)
        elif suffix in PHOTO_SUFFIXES:
            place(_safe_name(base), [data])
        else:
            problems.append(f"{upload_name}: neither a photo ({', '.join(PHOTO_SUFFIXES)}) nor a zip of photos")
    if problems:
        raise InvalidCocoError("upload", problems)
    return sorted(written)


def _extract_zip(upload_name: str, data: bytes, place, problems: list[str]) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        problems.append(f"{upload_name}: not a readable zip ({exc})")
        return
    with archive:
        for member in archive.infolist():
            path = PurePosixPath(member.filename.replace("\\", "/"))
            problem = None if member.is_dir() else file_name_problem(member.filename)
            if problem:  # an absolute path or '..': a zip that would write outside its folder
                problems.append(f"{upload_name}: {problem}")
                continue
            if member.is_dir() or _ignored(path) or path.suffix.lower() not in PHOTO_SUFFIXES:
                continue  # folders, notes, macOS resource forks: not photos, nothing to import
            try:
                with archive.open(member) as f:
                    place("/".join(_safe_name(part) for part in path.parts), iter(lambda: f.read(1 << 20), b""))
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:  # RuntimeError: an encrypted member
                problems.append(f"{upload_name}: {member.filename} cannot be extracted ({exc})")


def _safe_name(name: str) -> str:
    """A file name without characters that are awkward in paths and in the store's messages."""
    cleaned = re.sub(r"[\x00-\x1f<>:\"|?*]", "_", name).strip() or "photo"
    return cleaned[:200]


def _new_upload_folder(dataset: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset).strip("-.") or "upload"
    folder = settings.uploads_dir() / f"{slug}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise StoreError(f"cannot create the uploads folder {folder} ({exc.strerror or exc})") from None
    return folder


def _check_name(store: AnnotationStore, dataset: str) -> None:
    """The name is checked first, so a taken name costs no upload copying or photo reading."""
    if not isinstance(dataset, str) or not dataset.strip():
        raise UsageError("give the new data set a name")
    if dataset.strip() in store.datasets():
        raise StoreError(f"a data set named {dataset.strip()!r} exists already; pick another name")


def _import(
    store: AnnotationStore,
    document: dict,
    folder: Path,
    dataset: str,
    author: str,
    source: str,
    on_progress: Progress | None,
) -> int:
    def checking(done: int, total: int) -> None:
        if on_progress is not None and (done % 25 == 0 or done == total - 1):
            on_progress("checking the photos", done, total)

    prepared = prepare_import(
        document, folder, dataset.strip(), author=author or "import", store=store, source=source, on_progress=checking
    )
    if on_progress is not None:
        on_progress("writing to the store", len(document["images"]), len(document["images"]))
    return write_import(store, prepared)


# ---------------------------------------------------------------- sample data


@dataclass(frozen=True)
class Sample:
    """A data set made from the CCP folder (``fashionseg convert ccp``'s output)."""

    name: str  # the data set's default name
    file: str  # the converted file it comes from
    description: str


SAMPLES = (
    Sample(
        "ccp-client",
        "client.json",
        "CCP's 894 image-level photos, with CCP's tags as the client's labels and no masks: to annotate from scratch "
        "or from the model's pre-annotation",
    ),
    Sample(
        "ccp-instances",
        "instances.json",
        "CCP's 804 pixel-level photos with their ground-truth masks (11 classes): to review and correct",
    ),
)


def sample_available() -> bool:
    """Whether the CCP folder the samples are made from is on this machine."""
    return (settings.ccp_root() / "photos").is_dir() and (settings.ccp_root() / "label_list.mat").is_file()


def import_sample(
    store: AnnotationStore, sample: Sample, dataset: str, author: str, on_progress: Progress | None = None
) -> int:
    """Import a sample data set, converting the CCP folder first (~20 s) when its files are not there yet."""
    _check_name(store, dataset)
    if not sample_available():
        raise UsageError(f"the CCP data set is not at {settings.ccp_root()} (set FASHIONSEG_CCP_ROOT to its folder)")
    converted = settings.converted_ccp_dir() / sample.file
    if not converted.is_file():
        from fashionseg.convert.ccp import convert_ccp

        if on_progress is not None:
            on_progress(f"converting the CCP folder into {settings.converted_ccp_dir()} (once, about 20 s)", 0, 1)
        convert_ccp(settings.ccp_root(), settings.converted_ccp_dir(), progress=False)
    return _import(
        store,
        parse_coco(converted.read_bytes(), str(converted)),
        settings.ccp_root() / "photos",
        dataset,
        author,
        str(converted),
        on_progress,
    )


__all__ = [
    "MAX_UPLOAD_BYTES",
    "PHOTO_SUFFIXES",
    "SAMPLES",
    "Sample",
    "import_coco_upload",
    "import_folder",
    "import_sample",
    "import_uploads",
    "photo_files",
    "photos_document",
    "sample_available",
    "save_uploads",
]
