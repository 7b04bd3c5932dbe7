"""People and machine tokens: credentials stored hashed, returned as domain types."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dockpatrol.errors import NotFound
from dockpatrol.identity import ApiToken, Role, User
from dockpatrol.taxonomy import Department
from storage.repositories.atomic import insert_new
from storage.tables import utcnow
from storage.tables_api import ApiTokenRow, UserRow


def _user(row: UserRow) -> User:
    return User(id=row.id, username=row.username, display_name=row.display_name,
                roles=frozenset(Role(r) for r in row.roles),
                department=Department(row.department) if row.department else None, active=row.active,
                created_at=row.created_at, last_login_at=row.last_login_at)


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(id=row.id, name=row.name, roles=frozenset(Role(r) for r in row.roles),
                    department=Department(row.department) if row.department else None, created_by=row.created_by,
                    created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                    last_used_at=row.last_used_at)


def create_user(
    *, session: Session, username: str, password_hash: str, roles: frozenset[Role], display_name: str = "",
    department: Department | None = None,
) -> User:
    """A new user (id = username); an existing username raises Conflict."""
    row = UserRow(id=username, username=username, display_name=display_name or username,
                  password_hash=password_hash, roles=sorted(str(r) for r in roles),
                  department=str(department) if department else None, active=True)
    return _user(insert_new(session, row, what="user", key=username))


def get_user(*, session: Session, username: str) -> User | None:
    row = session.get(UserRow, username)
    return _user(row) if row else None


def require_user(*, session: Session, username: str) -> User:
    user = get_user(session=session, username=username)
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def password_hash_of(*, session: Session, username: str) -> str | None:
    """The stored hash of an active user's password (None for unknown or disabled users)."""
    row = session.get(UserRow, username)
    return row.password_hash if row is not None and row.active else None


def list_users(*, session: Session, offset: int = 0, limit: int = 100) -> tuple[list[User], int]:
    from sqlalchemy import func

    total = session.scalar(select(func.count()).select_from(UserRow)) or 0
    rows = session.scalars(select(UserRow).order_by(UserRow.username).offset(offset).limit(limit))
    return [_user(r) for r in rows], total


def update_user(
    *, session: Session, username: str, display_name: str | None = None, roles: frozenset[Role] | None = None,
    department: Department | None = None, clear_department: bool = False, active: bool | None = None,
    password_hash: str | None = None,
) -> User:
    """Change the given fields of a user; others stay as they are."""
    row = session.get(UserRow, username)
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    if display_name is not None:
        row.display_name = display_name
    if roles is not None:
        row.roles = sorted(str(r) for r in roles)
    if department is not None or clear_department:
        row.department = str(department) if department else None
    if active is not None:
        row.active = active
    if password_hash is not None:
        row.password_hash = password_hash
    session.flush()
    return _user(row)


def mark_login(*, session: Session, username: str, at: datetime | None = None) -> None:
    row = session.get(UserRow, username)
    if row is not None:
        row.last_login_at = at or utcnow()
        session.flush()


def create_token(
    *, session: Session, token_id: str, name: str, secret_sha256: str, roles: frozenset[Role],
    department: Department | None, created_by: str, expires_at: datetime | None = None,
) -> ApiToken:
    row = ApiTokenRow(id=token_id, name=name, secret_sha256=secret_sha256, roles=sorted(str(r) for r in roles),
                      department=str(department) if department else None, created_by=created_by,
                      expires_at=expires_at)
    return _token(insert_new(session, row, what="API token", key=token_id))


def token_secret_hash(*, session: Session, token_id: str) -> tuple[ApiToken, str] | None:
    """A token and the stored hash of its secret, for verification."""
    row = session.get(ApiTokenRow, token_id)
    return (_token(row), row.secret_sha256) if row else None


def touch_token(*, session: Session, token_id: str, at: datetime | None = None) -> None:
    row = session.get(ApiTokenRow, token_id)
    if row is not None:
        row.last_used_at = at or utcnow()
        session.flush()


def list_tokens(*, session: Session) -> list[ApiToken]:
    return [_token(r) for r in session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created_at))]


def revoke_token(*, session: Session, token_id: str, at: datetime | None = None) -> ApiToken:
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise NotFound(f"API token {token_id!r} does not exist")
    if row.revoked_at is None:
        row.revoked_at = at or utcnow()
        session.flush()
    return _token(row)
