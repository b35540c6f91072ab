"""Annotation work on the store, for the Annotate page and the CLI alike.

- :mod:`~fashionseg.annotation.draft`: an image's instances being edited, saved as one change.
- :mod:`~fashionseg.annotation.canvas`: canvas shapes (rectangles, polygons, strokes) -> full-resolution masks.
- :mod:`~fashionseg.annotation.preannotation`: a model's instances saved as unreviewed annotations.
- :mod:`~fashionseg.annotation.review`: who saved last, ground-truth flags, reviewed-only export.
"""
