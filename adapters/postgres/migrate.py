"""Apply the numbered SQL files of ``migrations/``.

- Idempotent: each file is applied once, recorded in ``kairos_migrations`` with its
  SHA-256; a file changed after it was applied is refused (``MigrationError``).
- Safe when several replicas start at once: a session advisory lock serialises runners;
  the second finds the work done.
- Each file runs in its own transaction, recorded in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from adapters.postgres.outage import translated

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Any stable 64-bit number; it names the lock, nothing else.
_LOCK_KEY = 0x6B6169726F73  # "kairos"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = DEFAULT_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if m is None:
            raise MigrationError(f"{path.name}: migration files are NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


async def migrate(dsn: str, directory: Path = DEFAULT_DIR) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call. Driver
    errors come translated (``adapters.postgres.outage``)."""
    with translated(timeouts=True):
        return await _migrate(dsn, directory)


async def _migrate(dsn: str, directory: Path) -> list[int]:
    migrations = discover(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS kairos_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            applied = {
                row["version"]: row["checksum"]
                for row in await conn.fetch("SELECT version, checksum FROM kairos_migrations")
            }
            done: list[int] = []
            for migration in migrations:
                recorded = applied.get(migration.version)
                if recorded is not None:
                    if recorded != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} changed after "
                            "it was applied; add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO kairos_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                done.append(migration.version)
            unknown = sorted(set(applied) - {m.version for m in migrations})
            if unknown:
                raise MigrationError(
                    f"database has migrations this build does not know: {unknown}; "
                    "is an older Kairos running against a newer schema?"
                )
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def pending(dsn: str, directory: Path = DEFAULT_DIR) -> list[int]:
    """Versions not yet applied (health checks use this: "migrations current"). Driver
    errors come translated (``adapters.postgres.outage``)."""
    with translated(timeouts=True):
        conn = await asyncpg.connect(dsn)
    try:
        with translated():
            exists = await conn.fetchval("SELECT to_regclass('kairos_migrations') IS NOT NULL")
            applied = (
                {r["version"] for r in await conn.fetch("SELECT version FROM kairos_migrations")}
                if exists
                else set()
            )
    finally:
        await conn.close()
    return [m.version for m in discover(directory) if m.version not in applied]
