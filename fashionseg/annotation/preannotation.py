"""Pre-annotation: a model's instances saved as unreviewed annotations, one change per image.

A rerun continues where the last stopped (images with annotations, or
reviewed, are left alone unless ``overwrite``); the Ray version for many
photos is :func:`fashionseg.evaluation.ray_batch.preannotate_ray`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fashionseg.annotation.draft import MODEL_AUTHOR_PREFIX, Draft
from fashionseg.core.coco import file_name_problem
from fashionseg.exceptions import ImageLoadError
from fashionseg.store import AnnotationStore, ConflictError


@dataclass
class PreannotationReport:
    annotated: int = 0
    instances: int = 0
    skipped: int = 0  # reviewed, or annotated already
    conflicts: int = 0  # saved by someone while the model ran
    failed: list[str] = field(default_factory=list)  # unreadable photos, with the reason

    def summary(self) -> str:
        text = f"pre-annotated {self.annotated} images ({self.instances} instances); skipped {self.skipped} reviewed or already annotated"
        if self.conflicts:
            text += f"; {self.conflicts} saved by someone else meanwhile, left as they were"
        if self.failed:
            text += f"; {len(self.failed)} could not be read"
        return text


def preannotate(
    store: AnnotationStore,
    dataset: str,
    segmenter,
    *,
    model_name: str,
    overwrite: bool = False,
    limit: int | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> PreannotationReport:
    """Save the model's instances as unreviewed annotations (origin ``model``) on every image still to do.

    Images already reviewed are never touched; images with annotations are
    skipped unless ``overwrite`` (then only ones nobody reviewed). Each image is
    its own change, so a crash keeps what was done and a rerun continues.
    """
    category_ids = store.category_ids(dataset)
    author = MODEL_AUTHOR_PREFIX + model_name
    report = PreannotationReport()
    images = store.images(dataset)
    todo = [im for im in images if not im.reviewed and (overwrite or not store.annotations(im.id))]
    report.skipped = len(images) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    for n, image in enumerate(todo):
        if on_progress is not None:
            on_progress(n, len(todo), image.file_name)
        problem = file_name_problem(image.file_name)
        if problem:  # a store filled before import refused such names: never read outside its folder
            report.failed.append(f"{image.file_name}: {problem}")
            continue
        try:
            result = segmenter.predict(image.path)
        except (ImageLoadError, OSError) as exc:
            report.failed.append(f"{image.file_name}: {exc}")
            continue
        try:
            draft = Draft.from_prediction(image, result, list(category_ids))
        except ValueError as exc:  # the photo decodes to another size than the store has
            report.failed.append(f"{image.file_name}: {exc}")
            continue
        try:
            store.save_annotations(
                image.id,
                draft.new_annotations(category_ids),
                expected_revision=image.revision,
                author=author,
                reviewed=False,
            )
        except ConflictError:
            report.conflicts += 1
            continue
        report.annotated += 1
        report.instances += len(draft.kept())
    if on_progress is not None:
        on_progress(len(todo), len(todo), "")
    return report
