"""Organisations, users, passwords (argon2) and API tokens — no Flask here."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tryggkarta.domain import Role
from tryggkarta.errors import BadInput, NotFound
from tryggkarta.store.models import ApiToken, Organisation, User

_hasher = PasswordHasher()
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


def create_token(session: Session, user: User, name: str, days: int | None = 365) -> str:
    """Create an API token; the clear text is returned once and only its hash is stored."""
    token = "tk_" + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    session.add(
        ApiToken(user_id=user.id, name=name, token_hash=_token_digest(token), expires_at=expires)
    )
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(token)))
    if row is None or row.revoked:
        return None
    if row.expires_at is not None and row.expires_at < datetime.now(UTC):
        return None
    row.last_used_at = datetime.now(UTC)
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no user {username!r}.")
    return user
