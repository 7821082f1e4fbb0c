"""One validated settings class: a bad variable is one line naming it, and the table
in docs/settings.md is the one the class renders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.cli.main import main
from service.runtime.wiring import target_options, tenant_limits
from service.settings import Settings, SettingsError, table, variable

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
BEGIN, END = "<!-- settings table: begin -->\n", "<!-- settings table: end -->\n"


def test_docs_settings_md_holds_the_table_of_every_variable() -> None:
    """The table between the markers is exactly what Settings renders (regenerate it
    with `python -c "from service.settings import table; print(table())"`)."""
    text = DOC.read_text()
    assert text[text.index(BEGIN) + len(BEGIN) : text.index(END)] == table()
    assert "`KAIROS_MAX_RUNNING` | unset |" in table()


def test_defaults_are_those_of_the_objects_built_from_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unset (or empty) variables give the adapters' and the domain's own defaults."""
    monkeypatch.setenv("KAIROS_MAX_RUNNING", "")
    settings = Settings.load()
    assert tenant_limits(settings) == type(tenant_limits(settings))()
    assert target_options(settings) == type(target_options(settings))()


def test_a_bad_value_is_one_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation happens when the settings are loaded, with the variable's name."""
    monkeypatch.setenv("KAIROS_MAX_RUNNING", "0")
    with pytest.raises(SettingsError, match=r"^KAIROS_MAX_RUNNING: .*equal to 1 \(got '0'\)$"):
        Settings.load()


def test_the_cli_reports_a_bad_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kairos` with a bad variable: exit 2 and one line on stderr, no traceback."""
    monkeypatch.setenv("KAIROS_NATS_STREAM_REPLICAS", "seven")
    assert main(["--version"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("kairos: error: KAIROS_NATS_STREAM_REPLICAS: ")


# Variables the deployment files use that the process does not read: NATS subject
# prefixes, and values for the deployment's own tooling.
NOT_SETTINGS = {
    "KAIROS_EVENTS": "subject prefix of the domain events",
    "KAIROS_INBOUND": "subject prefix of tenants' inbound events",
    "KAIROS_Q": "subject prefix of the work queues",
    "KAIROS_QUEUE_MAX": "prefix of the KAIROS_QUEUE_MAX_* settings, in prose",
    "KAIROS_OWNER_DATABASE_URL": "given to `kairos migrate --database-url` by the deployment",
    "KAIROS_HEALTHCHECK_URL": "the image's healthcheck probe",
    "KAIROS_IMAGE": "which image compose runs",
    "KAIROS_SECRETS_DIR": "the compose secrets helper script",
    "KAIROS_DB_HOST": "the compose secrets helper script",
    "KAIROS_DB_PORT": "the compose secrets helper script",
    "KAIROS_DB_NAME": "the compose secrets helper script",
    "KAIROS_DB_OWNER": "the compose secrets helper script",
    "KAIROS_NATS_PASSWORD": "nats-server's account configuration",
    "KAIROS_API_URL": "tenants' SDK workers (sdk/), not this process",
    "KAIROS_TOKEN": "tenants' SDK workers (sdk/), not this process",
}


def test_every_variable_the_deployment_sets_is_a_setting() -> None:
    """A KAIROS_* name in deploy/ is a Settings variable (so it is validated and in the
    table) or one of the few the process does not read."""
    known = {variable(name) for name in Settings.model_fields}
    used: set[str] = set()
    for path in (DOC.parents[1] / "deploy").rglob("*"):
        if path.is_file():
            used |= set(re.findall(r"KAIROS_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="ignore")))
    assert used - known - set(NOT_SETTINGS) == set()
