"""The editor console's data: users (password and API-token hashes) and triage decisions (an append-only audit
trail; an item's status is its newest decision). Every function takes a `Session`; callers own the transaction.

Passwords: scrypt from the standard library (memory-hard: n=2**14, r=8 → 16 MiB per guess; 16-byte random salt;
constant-time comparison). Argon2 would be as good but is a compiled extra dependency; scrypt is already in
`hashlib` on every CPython built with OpenSSL, which litwatch needs anyway for HTTPS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import StorageError
from .digests import DigestRecord
from .digests import _digest as digest_record
from .schema import DecisionRow, DigestRow, UserRow

ROLES = ("writer", "editor", "admin")  # each can do what the ones before it can
STATUSES = ("open", "reviewed", "article-updated", "dismissed")
STATUS_LABELS = {"open": "Open", "reviewed": "Reviewed", "article-updated": "Article updated",
                 "dismissed": "Dismissed"}
# Why a writer dismisses an item: a fixed list, so the reasons can be counted when the rules are calibrated.
DISMISS_REASONS = {
    "off-topic": "not about the article's topic",
    "preclinical": "animal or laboratory study",
    "already-cited": "already cited in the article",
    "too-small": "too small or too weak to change anything",
    "duplicate": "duplicate of another record",
    "not-new": "nothing new for the article",
    "other": "other (see note)",
}
NAME_LIMIT = 100
NOTE_LIMIT = 2000

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_SCRYPT_PREFIX = "scrypt"


class ConsoleError(StorageError):
    """A console request the data refuses (unknown user, bad role, bad decision): one line saying which."""


# ---- passwords ---------------------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (hex): self-describing, so stronger parameters later still verify old hashes."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return "$".join((_SCRYPT_PREFIX, str(_SCRYPT["n"]), str(_SCRYPT["r"]), str(_SCRYPT["p"]), salt.hex(),
                     digest.hex()))


def verify_password(password: str, stored: str) -> bool:
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
        if prefix != _SCRYPT_PREFIX:
            return False
        want = bytes.fromhex(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want), maxmem=64 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


# A hash to verify against when the user does not exist: the answer takes as long as for a real user, so the
# time taken does not tell an attacker which names exist.
_DUMMY_HASH = hash_password(secrets.token_hex(16))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ---- users -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: datetime
    has_token: bool = False

    def can(self, role: str) -> bool:
        """Whether this user has `role`'s rights (admins can do what editors can, editors what writers can)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _user(r: UserRow) -> User:
    return User(r.name, r.role, r.created_at, r.token_hash is not None)


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_LIMIT or any(c.isspace() or not c.isprintable() for c in name):
        raise ConsoleError(f"user name {name!r}: use 1-{NAME_LIMIT} printable characters without spaces")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ConsoleError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    return role


def add_user(s: Session, name: str, role: str, password: str, at: datetime) -> User:
    name, role = check_name(name), check_role(role)
    if not password:
        raise ConsoleError(f"user {name}: the password is empty")
    if _row(s, name) is not None:
        raise ConsoleError(f"user {name} already exists (change the password with `litwatch user passwd {name}`)")
    row = UserRow(name=name, role=role, password_hash=hash_password(password), created_at=at)
    s.add(row)
    s.flush()
    return _user(row)


def _row(s: Session, name: str) -> UserRow | None:
    return s.scalars(sa.select(UserRow).where(UserRow.name == name)).one_or_none()


def _existing(s: Session, name: str) -> UserRow:
    row = _row(s, name)
    if row is None:
        raise ConsoleError(f"no user {name!r} (see `litwatch user list`)")
    return row


def list_users(s: Session) -> list[User]:
    return [_user(r) for r in s.scalars(sa.select(UserRow).order_by(UserRow.name))]


def get_user(s: Session, name: str) -> User | None:
    row = _row(s, name)
    return _user(row) if row else None


def remove_user(s: Session, name: str) -> None:
    s.delete(_existing(s, name))


def set_password(s: Session, name: str, password: str) -> None:
    if not password:
        raise ConsoleError(f"user {name}: the password is empty")
    _existing(s, name).password_hash = hash_password(password)


def set_role(s: Session, name: str, role: str) -> None:
    _existing(s, name).role = check_role(role)


def new_token(s: Session, name: str, at: datetime) -> str:
    """A fresh API token for `name` (the old one stops working); only its hash is stored, so it is shown once."""
    row = _existing(s, name)
    token = "lw_" + secrets.token_urlsafe(32)
    row.token_hash, row.token_created_at = token_digest(token), at
    return token


def authenticate(s: Session, name: str, password: str) -> User | None:
    row = _row(s, name)
    ok = verify_password(password, row.password_hash if row else _DUMMY_HASH)
    return _user(row) if row is not None and ok else None


def user_with_stamp(s: Session, name: str) -> tuple[User, str] | None:
    """The user and a stamp of their password hash: a session remembers the stamp, so changing the password (or
    removing the user) ends every session signed in before."""
    row = _row(s, name)
    if row is None:
        return None
    return _user(row), hashlib.sha256(row.password_hash.encode("utf-8")).hexdigest()[:16]


def user_by_token(s: Session, token: str) -> User | None:
    if not token:
        return None
    row = s.scalars(sa.select(UserRow).where(UserRow.token_hash == token_digest(token))).one_or_none()
    return _user(row) if row else None


# ---- decisions ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    article: str
    pmid: str
    from_status: str
    status: str
    reason: str | None
    note: str
    user: str
    at: datetime

    @property
    def reason_label(self) -> str:
        return DISMISS_REASONS.get(self.reason or "", "")

    def to_dict(self) -> dict[str, str | None]:
        return {"article": self.article, "pmid": self.pmid, "from": self.from_status, "status": self.status,
                "reason": self.reason, "note": self.note, "user": self.user, "at": self.at.isoformat()}


def _decision(r: DecisionRow) -> Decision:
    return Decision(r.article, r.pmid, r.from_status, r.decision, r.reason, r.note, r.user, r.at)


def record_decision(s: Session, *, article: str, pmid: str, status: str, user: str, at: datetime,
                    reason: str | None = None, note: str = "") -> Decision:
    """Append one decision (never updates one: the table is the audit trail). Dismissing needs a reason."""
    if status not in STATUSES:
        raise ConsoleError(f"decision {status!r}: must be one of {', '.join(STATUSES)}")
    if status == "dismissed" and reason not in DISMISS_REASONS:
        raise ConsoleError(f"dismissing needs a reason: one of {', '.join(DISMISS_REASONS)}")
    if status != "dismissed":
        reason = None
    note = note.strip()
    if len(note) > NOTE_LIMIT:
        raise ConsoleError(f"the note is longer than {NOTE_LIMIT} characters")
    before = latest_decisions(s, article, [pmid]).get(pmid)
    row = DecisionRow(article=article, pmid=pmid, from_status=before.status if before else "open", decision=status,
                      reason=reason, note=note, user=user, at=at)
    s.add(row)
    s.flush()
    return _decision(row)


def latest_decisions(s: Session, article: str | None = None, pmids: Iterable[str] | None = None
                     ) -> dict[str, Decision]:
    """The newest decision per record (for one article; keyed by pmid), or per (article, pmid) joined by a space
    when `article` is None. Ties on `at` go to the later row (id order)."""
    q = sa.select(DecisionRow).order_by(DecisionRow.at, DecisionRow.id)
    if article is not None:
        q = q.where(DecisionRow.article == article)
    if pmids is not None:
        q = q.where(DecisionRow.pmid.in_(list(pmids)))
    newest: dict[str, Decision] = {}
    for r in s.scalars(q):
        newest[r.pmid if article is not None else f"{r.article} {r.pmid}"] = _decision(r)
    return newest


def decision_statuses(s: Session, article: str) -> dict[str, str]:
    """pmid → status for every record of `article` that has a decision (no entry: open)."""
    return {pmid: d.status for pmid, d in latest_decisions(s, article).items()}


def decision_history(s: Session, article: str | None = None) -> list[Decision]:
    q = sa.select(DecisionRow).order_by(DecisionRow.at, DecisionRow.id)
    if article is not None:
        q = q.where(DecisionRow.article == article)
    return [_decision(r) for r in s.scalars(q)]


# ---- the digest archive ------------------------------------------------------------------------------------

def list_digests(s: Session, limit: int = 200) -> list[DigestRecord]:
    """Recorded digests, newest first (every article's)."""
    rows = s.scalars(sa.select(DigestRow).order_by(DigestRow.created_at.desc(), DigestRow.id.desc()).limit(limit))
    return [digest_record(r) for r in rows]


def get_digest(s: Session, digest_id: int) -> DigestRecord | None:
    row = s.get(DigestRow, digest_id)
    return digest_record(row) if row else None
