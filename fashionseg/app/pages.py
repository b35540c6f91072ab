"""The app's pages, listed once: the router (``app.py``) and the Home page's links both read this.

Example:
    >>> [page.title for page in PAGES if page.on_home]
    ['Segment', 'Annotate', 'Experiments', 'Errors']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    path: str  # the page script, relative to the project root
    title: str
    icon: str
    summary: str = ""  # the Home page's line about it
    on_home: bool = True  # a card on the Home page


PAGES = (
    Page("app_pages/home.py", "Home", ":material/home:", on_home=False),
    Page(
        "app_pages/segment.py",
        "Segment",
        ":material/photo_camera:",
        "Upload or photograph a person: clothing instances (Mask R-CNN) and the garment cutout (U-Net), timed live.",
    ),
    Page(
        "app_pages/annotate.py",
        "Annotate",
        ":material/draw:",
        "Import photos or the sample data, review the model's masks and the client's labels, export COCO.",
    ),
    Page(
        "app_pages/experiments.py",
        "Experiments",
        ":material/monitoring:",
        "Compare trained models by the thesis' metrics and TTO, per class and over training.",
    ),
    Page(
        "app_pages/errors.py",
        "Errors",
        ":material/error:",
        "Browse an evaluation's false positives, misses and confusions, photo by photo.",
    ),
    Page("app_pages/classes.py", "Classes", ":material/list:", "Vocabularies and label mappings", on_home=False),
)


def page(title: str) -> Page:
    """The page called ``title``.

    >>> page("Classes").path
    'app_pages/classes.py'
    """
    return next(p for p in PAGES if p.title == title)
