"""The database: one engine, migrations to head, and small shared settings.

SQLite (the embedded default) runs in WAL mode with `synchronous=NORMAL`: a committed
transaction is in the WAL file before the call returns, so it survives the process
being killed (not a power cut; see the README). Every SQLite transaction starts with
`BEGIN IMMEDIATE`, so concurrent writers queue instead of failing half-way.

The SQLite file is created 0600 before SQLite opens it (SQLite gives `-wal` and `-shm`
the database's mode), and a file an older version left readable is tightened. Secrets
in the database are sealed (store/sealing.py) under a master key that a `Database` is
given (store/keyring.py); one opened without it reads and writes everything but them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, select, text, update
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from cams_server.store.keyring import KeySource
from cams_server.store.private_files import create_private_file, tighten
from cams_server.store.schema import meta
from cams_server.store.sealing import DIAGNOSTIC_KEY, STS_KEY, Sealer, Vault
from cams_server.store.wal import WalCheckpointer

__all__ = [
    "DATABASE_TIMEOUT_SECONDS",
    "DIAGNOSTIC_KEY",
    "STS_KEY",
    "Database",
    "StoreUnavailable",
    "default_database_url",
    "in_batches",
]

DialectInsert = PostgresInsert | SqliteInsert
# Values bound in one `IN (...)`: PostgreSQL's protocol refuses a statement of more than
# 65,535 bound values, SQLite more than its build allows (32,766 by default); a world of
# 10,000 accounts with 34 spaces each needs 340,000.
IN_BATCH = 10_000
# Longest a call waits on a remote database before it is refused.
DATABASE_TIMEOUT_SECONDS = 8.0
T = TypeVar("T")

WORLD_VERSION = "world_version"

log = logging.getLogger("cams_server")


class StoreUnavailable(RuntimeError):
    """A write could not be made durable (the database refused, failed or timed out):
    the call that needed it is answered ServiceUnavailable, never OK."""


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / 'cams.db'}"


def _sqlite_setup(engine: Engine, database: Database) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
        if database.wal is not None:  # `Database.run` writes on the event loop too
            database.wal.hand_over(dbapi_connection)
        record.info["wal_changes"] = dbapi_connection.total_changes  # none yet

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "commit")
    def on_commit(conn: Connection) -> None:
        # Only a transaction that changed rows has frames to checkpoint: the many
        # read-only ones (the world's version, every half second) leave it idle.
        pooled = conn.connection
        changes = pooled.dbapi_connection.total_changes  # type: ignore[union-attr]
        if database.wal is not None and pooled.info.get("wal_changes") != changes:
            pooled.info["wal_changes"] = changes
            database.wal.wrote()


def in_batches(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` in slices small enough for one `IN (...)` (`IN_BATCH`)."""
    for start in range(0, len(values), IN_BATCH):
        yield values[start : start + IN_BATCH]


class Database:
    """Owns the engine. `transaction()` is the one way to read or write."""

    def __init__(self, url: str, master_key: KeySource | None = None) -> None:
        self.url = url
        self._prepared: dict[Callable[[Database], Any], Any] = {}
        self._direct: sqlite3.Connection | None = None  # see `write_directly`
        self._direct_pg: psycopg.Connection[Any] | None = None  # the same, on PostgreSQL
        self._direct_lock = threading.Lock()
        self.vault = None if master_key is None else Vault(master_key)
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.sqlite_path: Path | None = None
        # The WAL checkpoints of the connections that commit on the event loop (store/wal.py).
        self.wal: WalCheckpointer | None = None
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                self.sqlite_path = Path(parsed.database)
                self._private_sqlite_file(self.sqlite_path)
                self.wal = WalCheckpointer(self.sqlite_path)
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False}, hide_parameters=True
            )
            _sqlite_setup(self.engine, self)
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

    @staticmethod
    def _private_sqlite_file(path: Path) -> None:
        """Create the database file 0600 (and a missing directory 0700) before SQLite does;
        tighten the files of a database an older version left readable by others."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_private_file(path)
        for name in (path.name, path.name + "-wal", path.name + "-shm"):
            tighten(path.with_name(name), 0o600)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def insert(self, table: Table) -> DialectInsert:
        """An INSERT in this database's dialect, which can say ON CONFLICT (SQLite and
        PostgreSQL spell it alike in SQLAlchemy): the one place that chooses."""
        return (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table)

    def prepared(self, build: Callable[[Database], T]) -> T:
        """`build(self)`, built once per database: for statements that cost more to
        build than to run on SQLite."""
        if build not in self._prepared:
            self._prepared[build] = build(self)
        return cast(T, self._prepared[build])

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store function from the event loop: inline on SQLite (microseconds, no
        thread hop), in a thread on a remote database, there bounded by
        `DATABASE_TIMEOUT_SECONDS` (the write may still land after; callers' effects are
        idempotent, so a retry is safe)."""
        if self.is_sqlite:
            return fn(*args)
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), DATABASE_TIMEOUT_SECONDS)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A transaction whose statements all see one committed state (for reading the
        world and the seal it is sealed under: a rotation or `world apply` committing
        half-way through must not be seen half)."""
        if self.dialect != "postgresql":
            with self.transaction() as conn:  # BEGIN IMMEDIATE: already one state
                yield conn
            return
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def secure_transaction(self) -> Iterator[Connection]:
        """A transaction that overwrites what it deletes or replaces (SQLite's
        `secure_delete`), for sealing and re-sealing secrets: the old value must not stay
        behind in a freed part of a page."""
        with self.transaction() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            try:
                yield conn
            finally:
                if self.is_sqlite:
                    conn.exec_driver_sql("PRAGMA secure_delete=OFF")

    def scrub(self, vacuum: bool) -> None:
        """After sealing or re-sealing (SQLite): rewrite the file without freed pages
        (`vacuum`: older cleartext may sit in pages freed long ago) and empty the WAL, so
        no earlier version of a secret stays on disk. PostgreSQL keeps old row versions
        until VACUUM and in its WAL archive; the README says what that means."""
        if not self.is_sqlite:
            return
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            if vacuum:
                driver.execute("VACUUM")
            busy, _, _ = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.close()
        if busy:
            log.warning(
                "could not empty the WAL of %s (another connection was reading): earlier "
                "sealed values stay in it until SQLite reuses the file",
                self.sqlite_path,
            )

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
        if self.vault is not None:
            self.vault.open(self)

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

    def _vault(self) -> Vault:
        if self.vault is None:
            raise RuntimeError(
                "this Database has no master key: construct it with a key source "
                "(store.keyring.key_source) to read or write secrets"
            )
        return self.vault

    def secret_key(self, name: str) -> bytes:
        """A deployment-wide secret (`diagnostic_key`, `sts_key`), unsealed at migrate()."""
        return self._vault().server_key(name)

    def sealer(self, conn: Connection) -> Sealer:
        """What seals and opens AccessKey secrets in `conn`'s transaction."""
        return self._vault().sealer(conn)

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

    def write_directly(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """Run `statements` (SQL text in the driver's parameter style, parameters) in one
        transaction, through a connection of this database's own outside SQLAlchemy;
        their row counts.

        For the one write on the call path (a batch of first-time enablements). Through
        SQLAlchemy it cost about 170 us on SQLite, directly about 30; on PostgreSQL a
        transaction through the pool took six round trips (a ping, BEGIN, the statement,
        COMMIT, the reset), and one statement on an autocommit connection takes one
        (bench/README.md). The statements are compiled once (`Database.prepared`).
        """
        with self._direct_lock:
            if self.sqlite_path is not None:
                return self._write_sqlite(statements)
            if self.dialect == "postgresql":
                return self._write_postgresql(statements)
        raise RuntimeError("direct writes are for SQLite and PostgreSQL")

    def _write_sqlite(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        assert self.sqlite_path is not None and self.wal is not None
        conn = self._direct
        if conn is None:
            conn = self._direct = sqlite3.connect(
                self.sqlite_path, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            self.wal.hand_over(conn)  # its commits run on the event loop
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = [conn.execute(sql, params).rowcount for sql, params in statements]
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.wal.wrote()
        return counts

    def _write_postgresql(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        try:
            return self._write_postgresql_once(statements)
        except psycopg.OperationalError:
            if self._direct_pg is not None:
                raise  # the connection is fine: the statement itself failed
            # The connection was lost (a restarted or failed-over server): once more on
            # a new one, as the pool's pre-ping would. The statements are idempotent
            # (ON CONFLICT DO NOTHING), so one that did land before the loss lands once.
            return self._write_postgresql_once(statements)

    def _write_postgresql_once(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        conn = self._direct_pg
        if conn is None:
            # A connection made the way the pool makes them (timeouts, keep-alives,
            # statement_timeout), then taken out of the pool: the call path's own.
            pooled = self.engine.raw_connection()
            conn = cast(psycopg.Connection[Any], pooled.driver_connection)
            pooled.detach()
            conn.autocommit = True
            self._direct_pg = conn
        try:
            if len(statements) == 1:  # atomic by itself: no BEGIN and COMMIT round trips
                sql, params = statements[0]
                return [conn.execute(sql, params).rowcount]
            with conn.transaction():
                return [conn.execute(sql, params).rowcount for sql, params in statements]
        except BaseException:
            if conn.closed or conn.broken:
                conn.close()
                self._direct_pg = None  # a new one next time
            raise

    def dispose(self) -> None:
        with self._direct_lock:
            if self._direct is not None:
                self._direct.close()
                self._direct = None
            if self._direct_pg is not None:
                self._direct_pg.close()
                self._direct_pg = None
        if self.wal is not None:
            self.wal.close()
        self.engine.dispose()
