"""Alembic's entry point. FashionSeg always hands it an open connection inside a transaction
(``config.attributes["connection"]``), so an upgrade commits whole or not at all."""

from alembic import context

from fashionseg.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with 'fashionseg store upgrade', which passes the store's connection")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
