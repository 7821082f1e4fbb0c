"""Zone rules from an injected source: versions, separate caches, the process's choice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.metrics import PrometheusMetrics
from adapters.zoneinfo_source import (
    DirectoryZoneSource,
    PackageZoneSource,
    SystemZoneSource,
    zone_source_named,
)
from domain.errors import InvalidSchedule
from domain.zones import datetime_to_instant, get_zone, tzdata_version, zone_source
from tests.tzif import berlin_tree as tree

NOON = datetime(2030, 6, 1, 12, tzinfo=UTC)


def test_a_compiled_tree_says_its_version_and_knows_only_its_zones(tmp_path: Path) -> None:
    """The version comes from tzdata.zi; a zone the tree lacks is an unknown zone."""
    source = tree(tmp_path, "2099a", None)
    assert source.version == "2099a"
    assert source.names() == {"Europe/Berlin", "UTC"}
    with zone_source(source):
        assert tzdata_version() == "2099a"
        with pytest.raises(InvalidSchedule) as caught:
            get_zone("Europe/Paris")
        assert caught.value.field == "timezone"


def test_each_source_has_its_own_zones(tmp_path: Path) -> None:
    """Berlin under two releases gives two offsets; leaving a block restores the first."""
    before = get_zone("Europe/Berlin")
    with zone_source(tree(tmp_path, "2099a", None)):
        fixed = get_zone("Europe/Berlin")
        with zone_source(tree(tmp_path, "2099b", datetime(2030, 1, 1, tzinfo=UTC))):
            moved = get_zone("Europe/Berlin")
        assert get_zone("Europe/Berlin") is fixed
    assert get_zone("Europe/Berlin") is before
    u = datetime_to_instant(NOON)
    assert (fixed.offset_at(u), moved.offset_at(u)) == (3600, 7200)


def test_kairos_zoneinfo_picks_the_source(tmp_path: Path) -> None:
    """system (default), package, or a directory; anything else stops the process."""
    assert isinstance(zone_source_named(""), SystemZoneSource)
    assert isinstance(zone_source_named("package"), PackageZoneSource)
    chosen = zone_source_named(str(tree(tmp_path, "2099a", None).root))
    assert isinstance(chosen, DirectoryZoneSource)
    assert chosen.version == "2099a"
    with pytest.raises(RuntimeError, match="expected system, package or a zoneinfo directory"):
        zone_source_named(str(tmp_path / "missing"))


def test_the_package_and_the_system_tree_say_their_versions() -> None:
    """Both real sources name an IANA release (digits and a letter), not 'unknown'."""
    for source in (SystemZoneSource(), PackageZoneSource()):
        version = source.version
        assert len(version) == 5, version
        assert version[:4].isdigit(), version
        assert version[4].isalpha(), version
        assert "Europe/Berlin" in source.names()


async def test_metrics_name_the_tzdata_release(tmp_path: Path) -> None:
    """/metrics carries kairos_tzdata_info{version=...} 1."""
    with zone_source(tree(tmp_path, "2099a", None)):
        metrics = PrometheusMetrics()
    text = (await metrics.render(MemoryDatabase())).decode()
    assert 'kairos_tzdata_info{version="2099a"} 1.0' in text
