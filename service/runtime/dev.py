"""``kairos dev``: the embedded default, its own PostgreSQL and nats-server under a
data folder, migrated, then one scheduler replica with the API until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from adapters.auth.tokens import DevKeys
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.postgres.migrate import migrate
from adapters.secrets import key_file
from service.runtime.processes import ServeOptions, serve
from service.runtime.wiring import target_options, verifier
from service.settings import Settings

log = logging.getLogger("kairos")

ENV_FILE = "env"


def read_dev_env(root: Path) -> dict[str, str]:
    """What a running ``kairos dev`` wrote for the other commands (URLs of its servers)."""
    try:
        lines = (root / ENV_FILE).read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def dev(root: Path, settings: Settings, options: ServeOptions | None = None) -> None:
    """The embedded default: own Postgres and nats-server under ``root``, migrated,
    then one scheduler replica with the API until Ctrl-C; the servers stop with it.

    ``root/env`` records the servers' URLs so ``kairos apply``, ``kairos events tail``
    and ``kairos worker`` started from the same folder find them without flags."""
    root.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(root / "postgres")
    server = EmbeddedNats(root / "nats")
    first = not postgres.initialised()
    log.info("%s PostgreSQL under %s", "initialising" if first else "reusing", postgres.data)
    postgres.start()
    try:
        server.start()
        targets = target_options(settings, fallback_key=key_file(root))
        # Auth is on, like production: the folder's own keys unless KAIROS_AUTH_* says
        # otherwise; `kairos token` mints tokens with them.
        auth = verifier(settings) or DevKeys(root / "auth").ensure().verifier()
        opts = dataclasses.replace(options or ServeOptions(), targets=targets, auth=auth)
        try:
            asyncio.run(migrate(postgres.dsn_for("postgres")))
            dsn = postgres.dsn_for("postgres", "kairos_scheduler")
            api_dsn = postgres.dsn_for("postgres", "kairos_app")
            opts = dataclasses.replace(opts, api_database_url=api_dsn)

            def record(api_url: str) -> None:
                (root / ENV_FILE).write_text(
                    f"KAIROS_DATABASE_URL={dsn}\nKAIROS_NATS_URL={server.url}\n"
                    f"KAIROS_API_URL={api_url}\n"
                )

            asyncio.run(serve(dsn, server.url, opts, on_ready=record))
        finally:
            server.stop()
    finally:
        postgres.stop()
