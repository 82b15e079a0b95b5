"""storage.console: scrypt password hashes, users, API tokens and the append-only decisions trail."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from litwatch.storage import console
from litwatch.storage.engine import session_scope
from tests.storage.conftest import at


def test_password_hash_is_salted_scrypt_and_verifies_only_the_password() -> None:
    first, second = console.hash_password("pw-1234567"), console.hash_password("pw-1234567")
    assert first != second and first.startswith("scrypt$16384$8$1$")  # a fresh salt each time
    assert console.verify_password("pw-1234567", first)
    assert not console.verify_password("pw-1234568", first)
    assert not console.verify_password("pw-1234567", "md5$abc") and not console.verify_password("x", "garbage")


def test_users_authenticate_tokens_and_removal(engine: Engine) -> None:
    with session_scope(engine) as s:
        console.add_user(s, "ed", "editor", "pw-1234567", at(0))
        with pytest.raises(console.ConsoleError, match="already exists"):
            console.add_user(s, "ed", "writer", "other-pw", at(1))
        with pytest.raises(console.ConsoleError, match="role 'boss'"):
            console.add_user(s, "al", "boss", "pw-1234567", at(1))
        assert console.authenticate(s, "ed", "pw-1234567") is not None
        assert console.authenticate(s, "ed", "wrong") is None and console.authenticate(s, "nobody", "x") is None
        token = console.new_token(s, "ed", at(2))
        assert console.user_by_token(s, token).name == "ed"  # type: ignore[union-attr]
        assert console.new_token(s, "ed", at(3)) != token and console.user_by_token(s, token) is None
        console.remove_user(s, "ed")
        assert console.list_users(s) == []


def test_decisions_are_appended_with_from_and_to(engine: Engine) -> None:
    with session_scope(engine) as s:
        with pytest.raises(console.ConsoleError, match="needs a reason"):
            console.record_decision(s, article="a", pmid="1", status="dismissed", user="w", at=at(0))
        console.record_decision(s, article="a", pmid="1", status="dismissed", reason="duplicate", user="w", at=at(1))
        console.record_decision(s, article="a", pmid="1", status="reviewed", reason="duplicate", user="e", at=at(2))
        console.record_decision(s, article="b", pmid="1", status="reviewed", user="e", at=at(3))
        trail = console.decision_history(s, "a")
        assert [(d.from_status, d.status, d.reason) for d in trail] == [("open", "dismissed", "duplicate"),
                                                                        ("dismissed", "reviewed", None)]
        assert console.decision_statuses(s, "a") == {"1": "reviewed"}
        assert console.decision_statuses(s, "c") == {}
