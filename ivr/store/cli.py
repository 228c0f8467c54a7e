"""`flask db upgrade|downgrade|current|revision`: the line's database migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

import ivr.store.migrate as migrate
from ivr import services
from ivr.store.store import Store

db = AppGroup("db", help="The line's database (DATABASE_URL): Alembic migrations.")


@contextmanager
def _store() -> Iterator[Store]:
    """The app's store, with database errors as one clear line instead of a traceback."""
    store = services.store()
    try:
        yield store
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"{store.url}: {type(exc).__name__}: {first}") from exc


def _where(store: Store) -> str:
    return f"{store.url}: at {migrate.current(store.engine) or 'base (empty)'}"


@db.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    with _store() as store:
        migrate.upgrade(store.engine, revision)
        click.echo(_where(store))


@db.command("downgrade")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Migrate down to REVISION ("base": drop every table); run with IVR_DB_MIGRATE_ON_START=0."""
    with _store() as store:
        migrate.downgrade(store.engine, revision)
        click.echo(_where(store))


@db.command("current")
def current_command() -> None:
    """Show the revision the database is at, and whether it is the newest this code has."""
    with _store() as store:
        newest = migrate.head()
        rev = migrate.current(store.engine)
        click.echo(f"{_where(store)} ({'up to date' if rev == newest else f'behind: head is {newest}'})")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What changes, e.g. 'add callbacks.notes'.")
def revision_command(message: str) -> None:
    """Write a new migration from the models' difference with the (migrated) database."""
    with _store() as store:
        migrate.autogenerate(store.engine, message)
