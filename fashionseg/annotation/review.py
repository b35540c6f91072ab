"""Review around the annotations: who changed an image last, ground-truth flags, reviewed-only export.

Flags are history entries (action ``flag``) that change no annotation and no
revision, so flagging never conflicts with anyone's edit.
"""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

from sqlalchemy import insert, select

from fashionseg.exceptions import UsageError
from fashionseg.store import AnnotationStore, ImageRecord, StoreError
from fashionseg.store import schema as t
from fashionseg.store.store import now as store_now


def last_change(store: AnnotationStore, image_id: int) -> dict | None:
    """The image's latest change (``author``, ``at``, ``action``, ``revision``), or None; flags are not changes."""
    history = t.history.c
    with store.reading() as c:
        row = c.execute(
            select(history.author, history.at, history.action, history.revision)
            .where(history.image_id == image_id, history.revision.is_not(None))
            .order_by(history.id.desc())
            .limit(1)
        ).first()
    return None if row is None else dict(row._mapping)


def when(stamp: str | None) -> str:
    """A stored UTC time as people read it: ``2026-11-26 17:42 UTC``.

    >>> when("2026-11-26T17:42:05+00:00")
    '2026-11-26 17:42 UTC'
    """
    if not stamp:
        return "at an unknown time"
    return stamp.replace("T", " ")[:16] + " UTC"


def conflict_text(store: AnnotationStore, image: ImageRecord) -> str:
    """Who saved ``image`` last and when, for the message of a save that came second."""
    change = last_change(store, image.id)
    if change is None:
        return f"{image.file_name} changed since you opened it"
    action = {"undo": "undone", "save_image_labels": "relabelled"}.get(change["action"], "saved")
    return f"{image.file_name} was {action} by {change['author']} at {when(change['at'])} (revision {change['revision']}) after you opened it"


FLAG_ACTION = "flag"


def flag_ground_truth(
    store: AnnotationStore, image_id: int, author: str, note: str, details: dict | None = None
) -> None:
    """Record that an image's ground truth looks wrong, in the store's history (action ``flag``).

    A flag changes no annotation and no revision, so it never conflicts with
    anyone's edit and undo passes over it; ``flags`` lists them for review.
    """
    if not isinstance(author, str) or not author.strip():
        raise StoreError("enter your name to flag an image (every entry in the store names its author)")
    if not note.strip():
        raise UsageError("say what is wrong with the ground truth")
    image = store.image(image_id)
    with store.writing() as c:
        c.execute(
            insert(t.history).values(
                dataset_id=image.dataset_id,
                image_id=image.id,
                action=FLAG_ACTION,
                author=author.strip(),
                at=store_now(),
                revision=None,
                undoes=None,
                before=None,
                after=json.dumps({"note": note.strip()[:2000], **(details or {})}, sort_keys=True),
            )
        )


def flags(store: AnnotationStore, dataset: str, image_id: int | None = None) -> list[dict]:
    """The data set's ground-truth flags, oldest first: file name, author, time, note and what was seen."""
    history, images = t.history.c, t.images.c
    query = (
        select(history.image_id, history.author, history.at, history.after, images.file_name)
        .join(t.images, images.id == history.image_id)
        .where(history.dataset_id == store.dataset_id(dataset), history.action == FLAG_ACTION)
        .order_by(history.id)
    )
    if image_id is not None:
        query = query.where(history.image_id == image_id)
    with store.reading() as c:
        rows = c.execute(query).all()
    return [
        {
            "image_id": r.image_id,
            "file_name": r.file_name,
            "author": r.author,
            "at": r.at,
            **json.loads(r.after or "{}"),
        }
        for r in rows
    ]


def locate_photo(store: AnnotationStore, file_name: str, photos_dir: str | Path) -> tuple[str, ImageRecord] | None:
    """The data set and image of the store that hold photo ``file_name`` of ``photos_dir``, or None.

    The store's photo must be that file, or a file with the same name and the same bytes (the same photos
    reached by another path: a data folder mounted elsewhere, or a record written on another machine).
    Data sets with ground-truth annotations come first (a ground-truth flag is about them), then exact paths.
    """
    wanted = (Path(photos_dir) / file_name).resolve()
    found = []
    for dataset in store.datasets():
        for image in store.images(dataset):
            if image.file_name != file_name:
                continue
            same_path = image.path.resolve() == wanted
            if not (same_path or _same_bytes(image.path, wanted)):
                continue
            with store.reading() as c:
                has_truth = c.scalar(
                    select(t.annotations.c.id)
                    .where(t.annotations.c.image_id == image.id, t.annotations.c.origin == "ground_truth")
                    .limit(1)
                )
            found.append((has_truth is None, not same_path, dataset, image))
            break
    if not found:
        return None
    *_, dataset, image = min(found, key=lambda f: f[:3])
    return dataset, image


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        return filecmp.cmp(a, b, shallow=False)
    except OSError:  # either file missing or unreadable: not known to be the same photo
        return False


def reviewed_only(document: dict) -> dict:
    """A store export (:func:`fashionseg.store.export_coco`) cut down to its reviewed images and their annotations.

    >>> doc = {"images": [{"id": 1, "reviewed": True}, {"id": 2, "reviewed": False}], "categories": [],
    ...        "annotations": [{"id": 5, "image_id": 1}, {"id": 6, "image_id": 2}], "image_labels": [{"id": 1, "image_id": 2}]}
    >>> cut = reviewed_only(doc)
    >>> [im["id"] for im in cut["images"]], [a["id"] for a in cut["annotations"]], cut["image_labels"]
    ([1], [5], [])
    """
    keep = {im["id"] for im in document["images"] if im.get("reviewed")}
    out = {
        **document,
        "images": [im for im in document["images"] if im["id"] in keep],
        "annotations": [a for a in document["annotations"] if a["image_id"] in keep],
    }
    if "image_labels" in document:
        out["image_labels"] = [x for x in document["image_labels"] if x["image_id"] in keep]
    return out
