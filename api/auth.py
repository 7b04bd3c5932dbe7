"""Authentication and roles: OAuth2 password flow → short-lived JWTs, revocable machine tokens,
role and department checks as FastAPI dependencies, the audit helper, and a login rate limiter.

People sign in at ``POST /api/auth/token`` (argon2id-hashed passwords, HS256 JWTs signed with a
key kept in the data directory). Machines (docks, the city ticket system's callbacks) present an
API token ``dpt_<id>.<secret>``; only the SHA-256 of the secret is stored and an admin can revoke it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api import context
from dockpatrol.errors import DockpatrolError, Forbidden
from dockpatrol.identity import DEPARTMENT_OF_ROLE, Role, User
from dockpatrol.taxonomy import Department

#: Sessions are short: a stolen console token is useful for minutes, not days.
ACCESS_TOKEN_TTL_S = 30 * 60
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "dockpatrol"
API_TOKEN_PREFIX = "dpt_"
#: Login attempts allowed per (client address, username) in the window, and per client address overall.
LOGIN_ATTEMPTS_PER_USER = 10
LOGIN_ATTEMPTS_PER_CLIENT = 30
LOGIN_WINDOW_S = 60.0

_hasher = PasswordHasher()
#: Verified against when the username is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Unauthenticated(DockpatrolError):
    """No credentials, or credentials that are malformed, expired, revoked or wrong."""

    title = "Authentication required"
    http_status = 401


class TooManyRequests(DockpatrolError):
    """The caller exceeded a rate limit; ``retry_after_s`` says when to try again."""

    title = "Too many requests"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# ---- passwords and keys ------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    if len(password) < 10:
        from dockpatrol.errors import InvalidInput

        raise InvalidInput("password must be at least 10 characters long")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _session_key_cached(path: str) -> bytes:
    from pathlib import Path

    from storage.keyfile import load_or_create_key

    return load_or_create_key(Path(path), what="session signing")


def session_key() -> bytes:
    """The JWT signing key in the data directory (created once, 0600, ≥ 32 random bytes)."""
    from dockpatrol.settings import get_settings

    return _session_key_cached(str((get_settings().data_dir / ".session-signing-key").resolve()))


# ---- principals -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user or a machine token, with roles and department."""

    name: str
    kind: str  # "user" or "token"
    roles: frozenset[Role]
    department: Department | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return self.name if self.kind == "user" else f"token:{self.name}"

    def has_any(self, *roles: Role) -> bool:
        return Role.ADMIN in self.roles or bool(self.roles & set(roles))

    @property
    def sees_all_departments(self) -> bool:
        """Admins and the operations centre see every department's tickets."""
        return Role.ADMIN in self.roles or Role.OPS_CENTRE in self.roles

    def require_department(self, department: str) -> None:
        """Raise Forbidden unless this caller may see and change ``department``'s tickets."""
        if self.sees_all_departments:
            return
        if self.department is None or str(self.department) != department:
            mine = self.department or "no department"
            raise Forbidden(f"this belongs to {department}; {self.actor} works for {mine}")


def principal_of_user(user: User) -> Principal:
    department = user.department
    if department is None:
        found = {DEPARTMENT_OF_ROLE[r] for r in user.roles if r in DEPARTMENT_OF_ROLE}
        department = found.pop() if len(found) == 1 else None
    return Principal(name=user.username, kind="user", roles=user.roles, department=department)


def issue_access_token(user: User, *, now: datetime | None = None) -> tuple[str, int]:
    """A signed JWT for ``user`` and its lifetime in seconds."""
    now = now or datetime.now(UTC)
    claims = {"sub": user.username, "iss": JWT_ISSUER, "iat": int(now.timestamp()),
              "exp": int((now + timedelta(seconds=ACCESS_TOKEN_TTL_S)).timestamp()),
              "roles": sorted(str(r) for r in user.roles), "jti": secrets.token_hex(8)}
    return jwt.encode(claims, session_key(), algorithm=JWT_ALGORITHM), ACCESS_TOKEN_TTL_S


def _from_jwt(token: str, session: Session) -> Principal:
    from storage.repositories import users

    try:
        claims = jwt.decode(token, session_key(), algorithms=[JWT_ALGORITHM], issuer=JWT_ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the session has expired; sign in again") from None
    except jwt.PyJWTError:
        raise Unauthenticated("the bearer token is not valid") from None
    # The user is read on every request, so disabling someone or changing roles takes effect at once.
    user = users.get_user(session=session, username=str(claims["sub"]))
    if user is None or not user.active:
        raise Unauthenticated("this account is disabled or no longer exists")
    return principal_of_user(user)


def new_api_token_secret() -> tuple[str, str, str]:
    """(token id, the full token to hand out once, SHA-256 of its secret to store)."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{API_TOKEN_PREFIX}{token_id}.{secret}", hashlib.sha256(secret.encode()).hexdigest()


def _from_api_token(token: str, session: Session) -> Principal:
    from storage.repositories import users

    token_id, _, secret = token.removeprefix(API_TOKEN_PREFIX).partition(".")
    found = users.token_secret_hash(session=session, token_id=token_id) if token_id.isalnum() else None
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if found is None or not hmac.compare_digest(found[1], digest):
        raise Unauthenticated("the API token is not valid")
    api_token = found[0]
    if api_token.revoked_at is not None:
        raise Unauthenticated(f"API token {api_token.name!r} was revoked")
    if api_token.expires_at is not None and api_token.expires_at <= datetime.now(UTC):
        raise Unauthenticated(f"API token {api_token.name!r} has expired")
    users.touch_token(session=session, token_id=token_id)
    return Principal(name=api_token.name, kind="token", roles=api_token.roles, department=api_token.department)


_bearer = HTTPBearer(auto_error=False, description="a JWT from /api/auth/token or an API token dpt_…")


def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 problem+json without valid credentials."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("this endpoint needs a bearer token: sign in at POST /api/auth/token")
    token = credentials.credentials
    if not token.isascii() or len(token) > 4096:
        raise Unauthenticated("the bearer token is not valid")
    with context.database().unit_of_work() as session:
        if token.startswith(API_TOKEN_PREFIX):
            return _from_api_token(token, session)
        return _from_jwt(token, session)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting admins and callers holding any of ``roles``; 403 for everyone else."""
    names = ", ".join(str(r) for r in roles)

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise Forbidden(f"{principal.actor} lacks the role for this action (needs one of: admin, {names})")
        return principal

    check.__name__ = f"require_{'_or_'.join(str(r) for r in roles) or 'admin'}"
    return check


# ---- audit ----------------------------------------------------------------------------------------------


def audit(
    session: Session, principal: Principal, action: str, resource_type: str, resource_id: str, *,
    before: Any = None, after: Any = None, detail: dict[str, Any] | None = None,
) -> None:
    """Record a mutation in the same transaction as the change (both commit or neither does)."""
    from storage.repositories import audit as audit_repo

    audit_repo.record(session=session, actor=principal.actor, action=action, resource_type=resource_type,
                      resource_id=resource_id, before=jsonable_encoder(before) if before is not None else None,
                      after=jsonable_encoder(after) if after is not None else None,
                      detail={"kind": principal.kind, **(detail or {})})


# ---- rate limiting --------------------------------------------------------------------------------------


class SlidingWindowLimiter:
    """An in-process sliding-window limiter: at most ``limit`` hits per key in ``window_s``.

    One process's memory is enough for a district's single API process; behind several workers
    each keeps its own window, so the effective limit multiplies by the worker count.
    """

    def __init__(self, *, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._hits: dict[Any, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: Any, what: str) -> None:
        """Count one attempt for ``key``; raise TooManyRequests when over the limit."""
        now = self._clock()
        with self._lock:
            if len(self._hits) > 10_000:  # forget idle keys so the table cannot grow without bound
                self._hits = {k: q for k, q in self._hits.items() if q and q[-1] > now - self.window_s}
            window = self._hits.setdefault(key, deque())
            while window and window[0] <= now - self.window_s:
                window.popleft()
            if len(window) >= self.limit:
                retry = max(1, int(window[0] + self.window_s - now) + 1)
                raise TooManyRequests(f"too many {what}; try again in {retry} s", retry_after_s=retry)
            window.append(now)


login_per_user = SlidingWindowLimiter(limit=LOGIN_ATTEMPTS_PER_USER, window_s=LOGIN_WINDOW_S)
login_per_client = SlidingWindowLimiter(limit=LOGIN_ATTEMPTS_PER_CLIENT, window_s=LOGIN_WINDOW_S)
token_issue = SlidingWindowLimiter(limit=LOGIN_ATTEMPTS_PER_USER, window_s=LOGIN_WINDOW_S)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---- routes ---------------------------------------------------------------------------------------------


class TokenOut(BaseModel):
    access_token: str = Field(description="a JWT to send as `Authorization: Bearer …`")
    token_type: str = Field("bearer", examples=["bearer"])
    expires_in: int = Field(description="seconds until the token expires", examples=[ACCESS_TOKEN_TTL_S])
    username: str
    roles: list[Role]
    department: Department | None = None


class MeOut(BaseModel):
    name: str
    kind: str = Field(description="user or token")
    roles: list[Role]
    department: Department | None = None
    sees_all_departments: bool = Field(description="admins and the operations centre see every department")


router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut, summary="Sign in (OAuth2 password flow)",
             responses={401: {"description": "wrong username or password"}, 429: {"description": "rate limited"}})
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """Exchange a username and password for a short-lived bearer token.

    Rate limited in-process: 10 attempts a minute per client address and username, 30 per address.
    """
    from storage.repositories import users

    client = client_of(request)
    login_per_client.hit(client, "sign-in attempts from this address")
    login_per_user.hit((client, form.username), "sign-in attempts for this user")
    with context.database().unit_of_work() as session:
        stored = users.password_hash_of(session=session, username=form.username)
        if not verify_password(stored, form.password):
            raise Unauthenticated("wrong username or password")
        user = users.require_user(session=session, username=form.username)
        users.mark_login(session=session, username=user.username)
    token, ttl = issue_access_token(user)
    principal = principal_of_user(user)
    return TokenOut(access_token=token, expires_in=ttl, username=user.username, roles=sorted(user.roles),
                    department=principal.department)


@router.get("/me", response_model=MeOut, summary="Who am I")
def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(name=principal.name, kind=principal.kind, roles=sorted(principal.roles),
                 department=principal.department, sees_all_departments=principal.sees_all_departments)
