"""Organisations, users, passwords (argon2) and API tokens — no Flask here."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from tryggkarta.domain import Role
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.store.models import ApiToken, Organisation, User, UserSession


def make_hasher() -> PasswordHasher:
    """The product's password hasher: argon2id at argon2-cffi's defaults (64 MiB, 3 passes)."""
    return PasswordHasher()


_hasher = make_hasher()
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")
MIN_PASSWORD = 8
#: Roles that log in (``public`` is anonymous).
LOGIN_ROLES = tuple(r.value for r in Role if r is not Role.PUBLIC)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def get_or_create_organisation(
    session: Session, name: str, kind: str = "municipality", municipality_code: str | None = None
) -> Organisation:
    name = name.strip()
    if not name:
        raise BadInput("An organisation needs a name.")
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name, kind=kind, municipality_code=municipality_code)
        session.add(org)
        session.flush()
    return org


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    organisation: str | None = None,
    display_name: str = "",
    email: str | None = None,
    language: str = "sv",
) -> User:
    """Create a user; raises :class:`BadInput` with a clear sentence for each mistake."""
    if not USERNAME_RE.match(username or ""):
        raise BadInput("A username is 2–80 characters: letters, digits and _ . @ - only.")
    if role not in LOGIN_ROLES:
        raise BadInput(f"Unknown role {role!r}; choose one of {', '.join(LOGIN_ROLES)}.")
    if len(password or "") < MIN_PASSWORD:
        raise BadInput(f"A password needs at least {MIN_PASSWORD} characters.")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise BadInput(f"The username {username!r} is taken.")
    org = get_or_create_organisation(session, organisation) if organisation else None
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        organisation_id=org.id if org else None,
        display_name=display_name or username,
        email=email,
        language=language if language in ("sv", "en") else "sv",
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        hash_password("timing-equaliser")  # same work whether or not the user exists
        return None
    if not verify_password(user.password_hash, password):
        return None
    user.last_login_at = datetime.now(UTC)
    return user


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_password(session: Session, user: User, password: str) -> int:
    """Set a new password and end every login session of ``user``; returns how many ended.

    API tokens stay valid (they are revoked one by one); a stolen session cookie does not.
    """
    if len(password or "") < MIN_PASSWORD:
        raise BadInput(f"A password needs at least {MIN_PASSWORD} characters.")
    user.password_hash = hash_password(password)
    return end_all_sessions(session, user.id)


def start_session(
    session: Session, user: User, ip: str | None = None, max_age: timedelta | None = None
) -> str:
    """Record a new login of ``user``; returns the random id for the cookie (stored hashed).

    With ``max_age`` the user's sessions older than that (never to be used again) go.
    """
    sid = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    if max_age is not None:
        stale = select(UserSession).where(
            UserSession.user_id == user.id, UserSession.created_at < now - max_age
        )
        for row in session.scalars(stale).all():
            session.delete(row)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=_token_digest(sid),
            created_at=now,
            last_seen_at=now,
            ip=(ip or "")[:64] or None,
        )
    )
    session.flush()
    return sid


#: A session's ``last_seen_at`` is written at most this often (not on every request).
SEEN_EVERY = timedelta(minutes=5)


def user_for_session(
    session: Session, user_id: int, sid: str, max_age: timedelta | None = None
) -> User | None:
    """The active user of a live login session, else ``None`` (ended, expired or unknown)."""
    row = session.scalar(
        select(UserSession).where(
            UserSession.token_hash == _token_digest(sid), UserSession.user_id == user_id
        )
    )
    if row is None:
        return None
    now = datetime.now(UTC)
    if max_age is not None and row.created_at < now - max_age:
        session.delete(row)
        return None
    if row.last_seen_at is None or row.last_seen_at < now - SEEN_EVERY:
        row.last_seen_at = now
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


def end_session(session: Session, sid: str) -> bool:
    """End one login session (logout); True if it existed."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _token_digest(sid)))
    if row is None:
        return False
    session.delete(row)
    return True


def session_counts(session: Session) -> dict[int, int]:
    """Open login sessions per user id (users without any are absent)."""
    from sqlalchemy import func

    rows = session.execute(
        select(UserSession.user_id, func.count()).group_by(UserSession.user_id)
    ).all()
    return {user_id: n for user_id, n in rows}


def end_all_sessions(session: Session, user_id: int) -> int:
    """End every login session of a user (password change, deactivation)."""
    rows = session.scalars(select(UserSession).where(UserSession.user_id == user_id)).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def create_token(session: Session, user: User, name: str, days: int | None = 365) -> str:
    """Create an API token; the clear text is returned once and only its hash is stored."""
    token = "tk_" + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    session.add(
        ApiToken(user_id=user.id, name=name, token_hash=_token_digest(token), expires_at=expires)
    )
    session.flush()
    return token


def list_tokens(session: Session, user: User | None = None) -> list[tuple[ApiToken, User]]:
    """API tokens (never their secrets) with their users, newest first; one user's if given."""
    stmt = select(ApiToken, User).join(User, User.id == ApiToken.user_id)
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    stmt = stmt.order_by(User.username, ApiToken.created_at.desc(), ApiToken.id.desc())
    return [(t, u) for t, u in session.execute(stmt).all()]


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke an API token by its id; it stops working on the next request."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"There is no API token with id {token_id}.")
    row.revoked = True
    session.flush()
    return row


def find_tokens(session: Session, user: User, name: str | None = None) -> list[ApiToken]:
    """A user's tokens that are not revoked, optionally only those called ``name``."""
    stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    if name is not None:
        stmt = stmt.where(ApiToken.name == name)
    return list(session.scalars(stmt.order_by(ApiToken.id)).all())


#: A token's "last used" time is written at most this often: it is shown by the day, and a
#: write per request made every API read wait for a commit (a WAL flush) of its own.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenUser:
    """The user an API token belongs to: the fields a request needs, read with the token."""

    id: int
    username: str
    display_name: str | None
    role: str
    organisation_id: int | None
    language: str | None
    active: bool


def _token_user_statement() -> Any:
    # table columns, not the ORM's: the statement is built once, and its rows are not
    # adapted to ORM entities (half the CPU of the lookup)
    tokens, users = ApiToken.__table__, User.__table__
    return (
        select(
            tokens.c.id,
            tokens.c.revoked,
            tokens.c.expires_at,
            tokens.c.last_used_at,
            users.c.id,
            users.c.username,
            users.c.display_name,
            users.c.role,
            users.c.organisation_id,
            users.c.language,
            users.c.active,
        )
        .join(users, users.c.id == tokens.c.user_id)
        .where(tokens.c.token_hash == bindparam("digest"))
    )


_TOKEN_USER = _token_user_statement()


def user_for_token(session: Session | Connection, token: str) -> TokenUser | None:
    """The active user a (not revoked, not expired) API token belongs to; notes its use.

    One query for token and user (and an UPDATE at most once a minute): it runs before
    every API and OGC request sent with a token.
    """
    row = session.execute(_TOKEN_USER, {"digest": _token_digest(token)}).first()
    if row is None or row[1]:
        return None
    now = datetime.now(UTC)
    if row[2] is not None and row[2] < now:
        return None
    if row[3] is None or now - row[3] >= LAST_USED_EVERY:
        tokens = ApiToken.__table__
        session.execute(update(tokens).where(tokens.c.id == row[0]).values(last_used_at=now))
    user = TokenUser(*row[4:])
    return user if user.active else None


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no user {username!r}.")
    return user
