"""Alembic migrations of the annotation store's schema (run by :mod:`fashionseg.store.migrate`).

A schema change is a new file in ``versions/`` and the same change in
``fashionseg/store/schema.py``; ``tests/test_store_migrations.py`` checks the
two agree on SQLite and PostgreSQL. Migrations never import ``schema.py``:
each one is frozen at the schema it was written for.
"""
