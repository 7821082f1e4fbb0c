"""The ``kairos`` command line: its entry point (the settings and the zone rules read
once, then the command). The parser is in ``parser.py``; the commands are in ``local.py``,
``preview.py`` and, over the REST API, ``operate.py``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from adapters.zoneinfo_source import describe, zone_source_named
from domain.errors import DomainError
from domain.zones import use_zone_source
from service.cli import operate
from service.cli.local import _apply, _dev, _events, _migrate, _serve, _token, _ui, _worker
from service.cli.parser import EXIT_USAGE, _build_parser
from service.cli.preview import _next, _tzdata, _version
from service.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Every KAIROS_* variable, read and validated once: a bad one is one line.
        settings = Settings.load()
        # One source of zone rules for every command, chosen once: `kairos next` shows
        # what `kairos serve` with the same environment would plan.
        source = zone_source_named(settings.zoneinfo)
    except (SettingsError, RuntimeError) as exc:
        print(f"kairos: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser = _build_parser(settings)
    args = parser.parse_args(argv)
    args.settings = settings
    use_zone_source(source)
    args.zone_rules = describe(source)  # what KAIROS_ZONEINFO chose, for the output
    if args.version:
        print(_version(args.zone_rules))
        return 0
    if args.command is None:
        parser.error("a command is required")
    if args.command in operate.COMMANDS or (
        args.command == "events" and args.events_command in operate.EVENT_COMMANDS
    ):
        return operate.run(args)
    try:
        if args.command == "tzdata":
            return _tzdata(args)
        if args.command == "next":
            return _next(args)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "dev":
            return _dev(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "apply":
            return _apply(args)
        if args.command == "events":
            return _events(args)
        if args.command == "token":
            return _token(args)
        if args.command == "ui":
            return _ui(args)
    except DomainError as exc:
        print(f"kairos {args.command}: error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
