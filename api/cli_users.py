"""``dockpatrol users add|list``: bootstrap the first admin and manage console accounts from a shell."""

from __future__ import annotations

import os

import typer

users_app = typer.Typer(help="Console users: add the first admin, list accounts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="login name (lower-case letters, digits, . _ -)"),
    role: list[str] = typer.Option(..., "--role", help="admin, operator, enforcement, environmental, fire, "
                                                        "ops_centre (repeatable)"),
    department: str | None = typer.Option(None, help="enforcement, environmental or fire_emergency"),
    display_name: str = typer.Option("", help="name shown in the console"),
    password_env: str = typer.Option("DOCKPATROL_NEW_PASSWORD", help="environment variable holding the password; "
                                                                     "asked for when it is unset"),
) -> None:
    """Add a user; the password comes from an environment variable or a hidden prompt, never argv."""
    import re

    from api.auth import hash_password
    from api.context import database
    from dockpatrol.errors import InvalidInput
    from dockpatrol.identity import Role
    from dockpatrol.taxonomy import Department
    from storage.repositories import audit, users

    if not re.fullmatch(r"[a-z0-9_.\-]{1,64}", username):
        raise InvalidInput(f"username {username!r}: use 1-64 lower-case letters, digits, '.', '_' or '-'")
    try:
        roles = frozenset(Role(r.strip().lower()) for r in role)
    except ValueError:
        raise InvalidInput(f"--role {role!r}: choose from {', '.join(r.value for r in Role)}") from None
    try:
        dept = Department(department) if department else None
    except ValueError:
        raise InvalidInput(f"--department {department!r}: choose from "
                           f"{', '.join(d.value for d in Department)}") from None
    password = os.environ.get(password_env) or typer.prompt("password", hide_input=True,
                                                            confirmation_prompt=True)
    password_hash = hash_password(password)
    with database().unit_of_work() as session:
        user = users.create_user(session=session, username=username, password_hash=password_hash, roles=roles,
                                 display_name=display_name, department=dept)
        audit.record(session=session, actor=f"cli:{os.environ.get('USER', 'unknown')}", action="user.create",
                     resource_type="user", resource_id=username,
                     after={"username": username, "roles": sorted(roles), "department": department})
    typer.echo(f"user {user.username} added with roles {', '.join(sorted(user.roles))}")


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    from api.context import database
    from storage.repositories import users

    with database().unit_of_work() as session:
        found, _ = users.list_users(session=session, limit=10_000)
    for u in found:
        typer.echo(f"{u.username}\t{','.join(sorted(u.roles))}\t{u.department or '-'}\t"
                   f"{'active' if u.active else 'disabled'}")


#: One demo account per role; the demo prints these so a visitor can sign in as each kind of user.
DEMO_USERS: tuple[tuple[str, str, str | None, str], ...] = (
    ("admin", "admin", None, "系统管理员 Admin"),
    ("operator", "operator", None, "调度员 Dock operator"),
    ("enforcement", "enforcement", "enforcement", "城管执法 Enforcement"),
    ("environmental", "environmental", "environmental", "生态环境 Environmental"),
    ("fire", "fire", "fire_emergency", "消防应急 Fire & emergency"),
    ("ops", "ops_centre", None, "运营中心 Operations centre"),
)
DEMO_PASSWORD_SUFFIX = "-demo-2026"


def seed_demo_users() -> list[tuple[str, str, str]]:
    """Create the demo accounts that do not exist yet; returns (username, password, role) of every one."""
    from api.auth import hash_password
    from api.context import database
    from dockpatrol.errors import Conflict
    from dockpatrol.identity import Role
    from dockpatrol.taxonomy import Department
    from storage.repositories import users

    out = []
    for username, role, department, display in DEMO_USERS:
        password = f"{username}{DEMO_PASSWORD_SUFFIX}"
        try:
            with database().unit_of_work() as session:
                users.create_user(session=session, username=username, password_hash=hash_password(password),
                                  roles=frozenset({Role(role)}), display_name=display,
                                  department=Department(department) if department else None)
        except Conflict:
            pass  # seeded before: keep the account (and any password its owner set)
        out.append((username, password, role))
    return out


@users_app.command("seed-demo")
def users_seed_demo() -> None:
    """Add one demo account per role (idempotent) and print the credentials. Demo districts only."""
    for username, password, role in seed_demo_users():
        typer.echo(f"{role:14s} {username:14s} {password}")
