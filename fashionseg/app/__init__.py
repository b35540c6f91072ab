"""Everything only the Streamlit pages use; the pages in ``app_pages/`` lay out widgets and call this.

- :mod:`~fashionseg.app.resources`: models and the store loaded once per process (``st.cache_resource``).
- :mod:`~fashionseg.app.segment_view`: the Segment page's photos, result cache, display and timing.
- :mod:`~fashionseg.app.annotation_session`: the Annotate page's session (current image, drafts, saves, undo), canvas pictures, labels.
- :mod:`~fashionseg.annotation.canvas`: the drawing canvas' geometry and shapes -> masks.
- :mod:`~fashionseg.app.experiments_view`: the Experiments page's tables and charts from registry records.
- :mod:`~fashionseg.app.error_browser`: the Errors page's error table and views.
- :mod:`~fashionseg.app.browser_bench`: ``fashionseg bench app``, the pages timed in headless Chromium.
"""
