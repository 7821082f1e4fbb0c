"""Zone rules from disk: the system zoneinfo, the ``tzdata`` package, or a directory.

The domain asks a ``ZoneSource`` (``domain.zones``) for rules; this module makes the real
ones and tells which tzdata release each holds, so that a run can record the version that
planned it and a replica can notice that its rules changed.

``KAIROS_ZONEINFO`` picks the source:

- ``system`` (default): Python's own search, the directories of ``zoneinfo.TZPATH``
  first (Debian's ``/usr/share/zoneinfo``), then the ``tzdata`` package;
- ``package``: the ``tzdata`` package only, whatever the host has: pin it in the
  environment (``tzdata==2025.2``) and every replica has the same rules;
- a directory path: a compiled zoneinfo tree (``zic -d DIR``), e.g. one shipped in an
  image. Its version is read from its ``tzdata.zi`` or ``+VERSION`` file.
"""

from __future__ import annotations

import importlib.resources
import os
import zoneinfo
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

try:
    import tzdata as _tzdata_package  # type: ignore[import-untyped]
except ImportError:  # optional: a host with its own zoneinfo needs no package
    _tzdata_package = None

UNKNOWN = "unknown"
_MAGIC = b"TZif"


def tree_version(root: Path) -> str | None:
    """The release a compiled tree says it is: ``tzdata.zi``'s first line
    (``# version 2025b``) or a ``+VERSION`` file."""
    zi = root / "tzdata.zi"
    try:
        with zi.open(encoding="ascii", errors="replace") as f:
            first = f.readline().split()
        if len(first) == 3 and first[:2] == ["#", "version"]:
            return first[2]
    except OSError:
        pass
    try:
        text = (root / "+VERSION").read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return text or None


def package_version() -> str | None:
    return None if _tzdata_package is None else str(_tzdata_package.IANA_VERSION)


def _tree_names(root: Path) -> frozenset[str]:
    out: set[str] = set()
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                with path.open("rb") as f:
                    if f.read(4) != _MAGIC:
                        continue
            except OSError:
                continue
            out.add(path.relative_to(root).as_posix())
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class SystemZoneSource:
    """zoneinfo's own search order; the version is that of the tree it reads first."""

    def names(self) -> frozenset[str]:
        return frozenset(zoneinfo.available_timezones())

    def load(self, name: str) -> tzinfo:
        return ZoneInfo(name)

    @property
    def version(self) -> str:
        for root in zoneinfo.TZPATH:
            # The first directory that holds zones is the one ZoneInfo reads.
            if (Path(root) / "UTC").is_file() or (Path(root) / "Etc" / "UTC").is_file():
                return tree_version(Path(root)) or UNKNOWN
        return package_version() or UNKNOWN


@dataclass(frozen=True, slots=True)
class PackageZoneSource:
    """The ``tzdata`` PyPI package only (the host's zoneinfo is ignored)."""

    def names(self) -> frozenset[str]:
        listing = importlib.resources.files("tzdata").joinpath("zones")
        return frozenset(listing.read_text(encoding="utf-8").split())

    def load(self, name: str) -> tzinfo:
        path = importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
        with path.open("rb") as f:
            return ZoneInfo.from_file(f, key=name)

    @property
    def version(self) -> str:
        return package_version() or UNKNOWN


@dataclass(frozen=True, slots=True)
class DirectoryZoneSource:
    """A compiled zoneinfo tree (``zic -d``); ``version`` if the tree does not say."""

    root: Path
    declared: str | None = None
    _names: list[frozenset[str]] = field(default_factory=list, compare=False, repr=False)

    def names(self) -> frozenset[str]:
        if not self._names:
            self._names.append(_tree_names(self.root))
        return self._names[0]

    def load(self, name: str) -> tzinfo:
        if name not in self.names():
            raise LookupError(name)
        with (self.root / name).open("rb") as f:
            return ZoneInfo.from_file(f, key=name)

    @property
    def version(self) -> str:
        return self.declared or tree_version(self.root) or UNKNOWN


ZoneSourceKind = SystemZoneSource | PackageZoneSource | DirectoryZoneSource


def zone_source_named(setting: str) -> ZoneSourceKind:
    """The source ``KAIROS_ZONEINFO`` names (see the module doc): ``system``,
    ``package`` or a directory; a bad value stops the process here."""
    value = setting.strip() or "system"
    if value == "system":
        return SystemZoneSource()
    if value == "package":
        if package_version() is None:
            raise RuntimeError("KAIROS_ZONEINFO=package but the tzdata package is not installed")
        return PackageZoneSource()
    root = Path(value)
    if not root.is_dir():
        raise RuntimeError(
            f"KAIROS_ZONEINFO={value!r}: expected system, package or a zoneinfo directory"
        )
    return DirectoryZoneSource(root)


def describe(source: ZoneSourceKind) -> str:
    """What an operator reads in ``/health`` and ``kairos --version``."""
    if isinstance(source, DirectoryZoneSource):
        return str(source.root)
    return "package" if isinstance(source, PackageZoneSource) else "system"
