"""The database: one engine, migrations to head, and small shared settings.

SQLite (the embedded default) runs in WAL mode with `synchronous=NORMAL`: a committed
transaction is in the WAL file before the call returns, so it survives the process
being killed (not a power cut; see the README). Every SQLite transaction starts with
`BEGIN IMMEDIATE`, so concurrent writers queue instead of failing half-way.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from cams_server.store.schema import meta

__all__ = ["Database", "default_database_url"]

WORLD_VERSION = "world_version"
DIAGNOSTIC_KEY = "diagnostic_key"
STS_KEY = "sts_key"


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / 'cams.db'}"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns the engine. `transaction()` is the one way to read or write."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.sqlite_path: Path | None = None
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                self.sqlite_path = Path(parsed.database)
                self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False}, hide_parameters=True
            )
            _sqlite_setup(self.engine)
        elif self.dialect == "postgresql":
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
            # Bounded everywhere: a partitioned database must fail calls, not hang them.
            self.engine = create_engine(
                parsed,
                pool_pre_ping=True,
                pool_size=8,
                max_overflow=8,
                pool_timeout=3,
                hide_parameters=True,  # bound values include AccessKey secrets
                connect_args={
                    "connect_timeout": 3,
                    "tcp_user_timeout": 5000,
                    "keepalives": 1,
                    "keepalives_idle": 5,
                    "keepalives_interval": 2,
                    "keepalives_count": 2,
                    "options": "-c statement_timeout=5000 -c lock_timeout=5000",
                },
            )
        else:
            raise ValueError(
                f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or "
                "postgresql://USER@HOST:PORT/DB"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the schema to head; safe when several processes start at once."""
        config = Config()
        config.set_main_option(
            "script_location", str(resources.files("cams_server.store").joinpath("migrations"))
        )
        with self.transaction() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(727472)"))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        self._ensure_meta(WORLD_VERSION, "0")
        self._ensure_meta(DIAGNOSTIC_KEY, base64.b64encode(os.urandom(32)).decode())
        self._ensure_meta(STS_KEY, base64.b64encode(os.urandom(32)).decode())

    def _ensure_meta(self, key: str, value: str) -> None:
        try:
            with self.transaction() as conn:
                if conn.execute(select(meta.c.value).where(meta.c.key == key)).first() is None:
                    conn.execute(meta.insert().values(key=key, value=value))
        except IntegrityError:
            pass  # another process created it first

    def meta_value(self, key: str) -> str | None:
        with self.transaction() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def world_version(self) -> int:
        return int(self.meta_value(WORLD_VERSION) or 0)

    def secret_key(self, name: str) -> bytes:
        """A deployment-wide secret (`diagnostic_key`, `sts_key`), made at first migration."""
        value = self.meta_value(name)
        if value is None:
            raise RuntimeError("the database is not migrated")
        return base64.b64decode(value)

    def lock_world(self, conn: Connection) -> None:
        """Serialize world writers (SQLite's BEGIN IMMEDIATE already does)."""
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(727473)"))

    @staticmethod
    def bump_world_version(conn: Connection) -> None:
        conn.execute(
            update(meta)
            .where(meta.c.key == WORLD_VERSION)
            .values(value=text("CAST(CAST(value AS INTEGER) + 1 AS TEXT)"))
        )

    def ping(self) -> str:
        """'ok', or why the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return "ok"

    def dispose(self) -> None:
        self.engine.dispose()
