"""Schema versions of the annotation store, kept by Alembic (migrations in ``migrations/versions``).

A store records its schema revision in Alembic's ``alembic_version`` table. A
store made before versioning has the tables of revision 0001 and no such
table. Opening a store whose revision is older than this FashionSeg's raises
:class:`StoreSchemaError` naming the command that upgrades it; a revision this
FashionSeg does not know (a newer FashionSeg wrote it) is refused the same
way, since reading it with older code could lose data.

Example:
    >>> from fashionseg.store.migrate import head_revision
    >>> head_revision()
    '0002'
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from fashionseg.exceptions import StoreSchemaError
from fashionseg.store import schema as t

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the schema of stores made before versioning
VERSION_TABLE = "alembic_version"


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    return _scripts().get_current_head()


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def stored_revision(c: Connection) -> str | None:
    """The store's schema revision: Alembic's, or 0001 for a store made before versioning; None when
    the database holds no annotation store."""
    present = set(inspect(c).get_table_names())
    if VERSION_TABLE in present:
        return c.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return BASELINE if set(t.metadata.tables) <= present else None


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def check_revision(revision: str, location: str) -> None:
    """Raise :class:`StoreSchemaError` unless a store at ``revision`` can be used as it is."""
    head = head_revision()
    if revision == head:
        return
    if not _known(revision):
        raise StoreSchemaError(
            f"{location} has schema revision {revision}, newer than this FashionSeg knows (up to {head}); "
            "a newer FashionSeg made or upgraded it: upgrade FashionSeg to use it. Nothing was changed"
        )
    raise StoreSchemaError(
        f"{location} has schema revision {revision}, older than this FashionSeg's ({head}); upgrade it with "
        f"'fashionseg store upgrade --db {location}' (back it up first; every client of the store needs this FashionSeg "
        "afterwards). Nothing was changed"
    )


def stamp_head(c: Connection) -> None:
    """Mark a store just made from ``schema.metadata`` as being at the newest revision."""
    MigrationContext.configure(c).stamp(_scripts(), "head")


def upgrade(c: Connection, location: str) -> tuple[str, str]:
    """Bring the store on ``c`` to the newest revision inside the caller's transaction; returns
    (revision before, revision after). A store of unknown revision is refused."""
    before = stored_revision(c)
    if before is None:
        raise StoreSchemaError(f"{location} holds no annotation store to upgrade")
    head = head_revision()
    if before == head:
        return before, head
    if not _known(before):
        check_revision(before, location)  # raises: newer than known
    if VERSION_TABLE not in set(inspect(c).get_table_names()):
        MigrationContext.configure(c).stamp(_scripts(), BASELINE)
    command.upgrade(_config(c), "head")
    return before, stored_revision(c)
