"""Event-trigger matching and message identity (domain.inbound)."""

from __future__ import annotations

import pytest

from domain.inbound import message_key, split_subject, subject_matches


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("orders.created", "orders.created", True),
        ("orders.*", "orders.created", True),
        ("orders.*", "orders.created.eu", False),
        ("orders.>", "orders.created.eu", True),
        ("orders.>", "orders", False),
        ("*.created", "invoices.created", True),
        ("orders.created", "orders", False),
    ],
)
def test_subject_matching_follows_nats_wildcards(
    pattern: str, subject: str, expected: bool
) -> None:
    """`*` is one token, a final `>` one or more."""
    assert subject_matches(pattern, subject) is expected


def test_a_message_is_known_by_its_id_else_by_its_content() -> None:
    """Same Nats-Msg-Id: same key whatever the body; no id: subject and body decide."""
    assert message_key("m1", "t.a.x", b"1") == message_key("m1", "t.a.x", b"2")
    assert message_key(None, "t.a.x", b"1") == message_key(None, "t.a.x", b"1")
    assert message_key(None, "t.a.x", b"1") != message_key(None, "t.a.y", b"1")


def test_only_the_tenant_namespace_is_read() -> None:
    """`t.<tenant>.` and `in.<tenant>.` subjects name a tenant; `scheduler.` ones do not."""
    assert split_subject("t.acme.orders.created") == ("acme", "orders.created")
    assert split_subject("in.acme.orders.created") == ("acme", "orders.created")
    assert split_subject("scheduler.run.started.acme") is None
    assert split_subject("t.acme") is None
