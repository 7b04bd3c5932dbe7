"""People, machine tokens, the audit log and the platform settings only an admin changes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import audit, client_of, hash_password, new_api_token_secret, token_issue
from api.routers._common import Admin, Auditor, Paging, uow
from api.schemas import CONFLICT, NOT_FOUND, PROBLEMS, Page, StrictIn
from api.vehicles import SETTING_KEY, allow_list, check_allow_entry
from dockpatrol.identity import ApiToken, Role, User
from dockpatrol.taxonomy import Department

router = APIRouter(tags=["admin"], responses=PROBLEMS)
USERNAME = r"^[a-z0-9_.\-]+$"
Username = Annotated[str, Path(min_length=1, max_length=64, pattern=USERNAME)]


class UserCreate(StrictIn):
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME, examples=["chen.enforcement"])
    password: str = Field(min_length=10, max_length=200, examples=["correct-horse-battery"])
    display_name: str = Field("", max_length=200, examples=["陈 执法队"])
    roles: list[Role] = Field(min_length=1, examples=[["enforcement"]])
    department: Department | None = Field(None, description="default: the department of a department role")


class UserPatch(StrictIn):
    display_name: str | None = Field(None, max_length=200)
    roles: list[Role] | None = Field(None, min_length=1)
    department: Department | None = None
    active: bool | None = None
    password: str | None = Field(None, min_length=10, max_length=200)


class UserOut(BaseModel):
    username: str
    display_name: str
    roles: list[Role]
    department: Department | None
    active: bool
    created_at: datetime | None
    last_login_at: datetime | None


def user_out(user: User) -> UserOut:
    return UserOut(username=user.username, display_name=user.display_name, roles=sorted(user.roles),
                   department=user.department, active=user.active, created_at=user.created_at,
                   last_login_at=user.last_login_at)


class TokenCreate(StrictIn):
    name: str = Field(min_length=1, max_length=200, examples=["dock-D3", "city-ticket-callbacks"])
    roles: list[Role] = Field(min_length=1, examples=[["operator"]])
    department: Department | None = None
    expires_at: AwareDatetime | None = Field(None, description="default: never (revoke it instead)")


class TokenOut(BaseModel):
    id: str
    name: str
    roles: list[Role]
    department: Department | None
    created_by: str
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="shown once: store it in the machine's configuration now")


def token_out(t: ApiToken) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, roles=sorted(t.roles), department=t.department, created_by=t.created_by,
                    created_at=t.created_at, expires_at=t.expires_at, revoked_at=t.revoked_at,
                    last_used_at=t.last_used_at)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str = Field(examples=["dock.update"])
    resource_type: str
    resource_id: str
    before: dict | None
    after: dict | None
    detail: dict


class AllowList(StrictIn):
    entries: list[str] = Field(min_length=1, max_length=200,
                               examples=[["sim:", "serial", "10.20.0.0/16", "dock-gw.district.local"]])


@router.get("/api/users", response_model=Page[UserOut], tags=["users"], summary="List users")
def list_users(_: Admin, paging: Paging) -> Page[UserOut]:
    from storage.repositories import users

    with uow() as session:
        found, total = users.list_users(session=session, offset=paging.offset, limit=paging.limit)
    return Page(items=[user_out(u) for u in found], total=total, offset=paging.offset, limit=paging.limit)


@router.post("/api/users", status_code=201, response_model=UserOut, responses=CONFLICT, tags=["users"],
             summary="Add a user")
def create_user(body: UserCreate, principal: Admin) -> UserOut:
    from storage.repositories import users

    password_hash = hash_password(body.password)
    with uow() as session:
        user = users.create_user(session=session, username=body.username, password_hash=password_hash,
                                 roles=frozenset(body.roles), display_name=body.display_name,
                                 department=body.department)
        out = user_out(user)
        audit(session, principal, "user.create", "user", user.username, after=out)
    return out


@router.patch("/api/users/{username}", response_model=UserOut, responses=NOT_FOUND, tags=["users"],
              summary="Change a user's roles, department, name, password or active flag")
def patch_user(username: Username, body: UserPatch, principal: Admin) -> UserOut:
    from storage.repositories import users

    changes = body.model_dump(exclude_unset=True)
    with uow() as session:
        before = user_out(users.require_user(session=session, username=username))
        user = users.update_user(
            session=session, username=username, display_name=changes.get("display_name"),
            roles=frozenset(changes["roles"]) if changes.get("roles") else None,
            department=changes.get("department"), clear_department="department" in changes and not changes["department"],
            active=changes.get("active"),
            password_hash=hash_password(changes["password"]) if changes.get("password") else None)
        out = user_out(user)
        audit(session, principal, "user.update", "user", username, before=before, after=out,
              detail={"password_changed": bool(changes.get("password"))})
    return out


@router.get("/api/tokens", response_model=list[TokenOut], tags=["users"], summary="List machine tokens")
def list_tokens(_: Admin) -> list[TokenOut]:
    from storage.repositories import users

    with uow() as session:
        return [token_out(t) for t in users.list_tokens(session=session)]


@router.post("/api/tokens", status_code=201, response_model=TokenCreated, tags=["users"],
             summary="Issue a machine token (shown once)")
def create_token(request: Request, body: TokenCreate, principal: Admin) -> TokenCreated:
    """Rate limited in-process (10 a minute per client address and admin)."""
    from storage.repositories import users

    token_issue.hit((client_of(request), principal.actor), "token requests")
    token_id, token, digest = new_api_token_secret()
    with uow() as session:
        created = users.create_token(session=session, token_id=token_id, name=body.name, secret_sha256=digest,
                                     roles=frozenset(body.roles), department=body.department,
                                     created_by=principal.actor, expires_at=body.expires_at)
        out = token_out(created)
        audit(session, principal, "token.create", "api_token", token_id, after=out)
    return TokenCreated(**out.model_dump(), token=token)


@router.post("/api/tokens/{token_id}/revoke", response_model=TokenOut, responses=NOT_FOUND, tags=["users"],
             summary="Revoke a machine token")
def revoke_token(token_id: Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")],
                 principal: Admin) -> TokenOut:
    from storage.repositories import users

    with uow() as session:
        revoked = users.revoke_token(session=session, token_id=token_id)
        out = token_out(revoked)
        audit(session, principal, "token.revoke", "api_token", token_id, after=out)
    return out


@router.get("/api/audit", response_model=Page[AuditOut], tags=["audit"], summary="The audit log, newest first")
def list_audit(_: Auditor, paging: Paging,
               actor: Annotated[str | None, Query(max_length=100)] = None,
               action: Annotated[str | None, Query(max_length=64)] = None,
               resource_type: Annotated[str | None, Query(max_length=64)] = None,
               resource_id: Annotated[str | None, Query(max_length=200)] = None,
               since: Annotated[AwareDatetime | None, Query()] = None) -> Page[AuditOut]:
    from storage.repositories import audit as audit_repo

    with uow() as session:
        entries, total = audit_repo.search(session=session, actor=actor, action=action, resource_type=resource_type,
                                           resource_id=resource_id, since=since, offset=paging.offset,
                                           limit=paging.limit)
    return Page(items=[AuditOut.model_validate(e, from_attributes=True) for e in entries], total=total,
                offset=paging.offset, limit=paging.limit)


@router.get("/api/settings/vehicle-allow-list", response_model=AllowList, tags=["settings"],
            summary="Hosts and networks dock vehicle URLs may point at")
def get_allow_list(_: Admin) -> AllowList:
    with uow() as session:
        return AllowList(entries=allow_list(session))


@router.put("/api/settings/vehicle-allow-list", response_model=AllowList, tags=["settings"],
            summary="Replace the vehicle allow-list")
def put_allow_list(body: AllowList, principal: Admin) -> AllowList:
    from storage.repositories import audit as audit_repo

    entries = sorted({check_allow_entry(e) for e in body.entries})
    with uow() as session:
        before = allow_list(session)
        audit_repo.put_setting(session=session, key=SETTING_KEY, value=entries, actor=principal.actor)
        audit(session, principal, "setting.update", "setting", SETTING_KEY, before={"entries": before},
              after={"entries": entries})
    return AllowList(entries=entries)
