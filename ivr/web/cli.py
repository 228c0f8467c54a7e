"""`flask staff add|password|list|unlock|revoke`: the staff dashboard's accounts."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ivr import services
from ivr.store.audit import ROLE_CHANGE, command_line_actor
from ivr.store.models import STAFF_ROLES
from ivr.web.staff import MIN_PASSWORD, hash_password, normal_username

ROLE = click.Choice(STAFF_ROLES)

staff = AppGroup("staff", help="Staff dashboard accounts (passwords are asked for, never echoed).")


def _username(raw: str) -> str:
    name = normal_username(raw)
    if name is None:
        raise click.BadParameter(
            "1 to 64 of a-z, 0-9 and . _ @ -, starting with a letter or digit", param_hint="USERNAME"
        )
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise click.BadParameter(f"at least {MIN_PASSWORD} characters", param_hint="password")
    return password


@staff.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=ROLE,
    default="staff",
    show_default=True,
    help="staff: the call centre's pages; clinician: the clinical review; admin: all and the audit log.",
)
@click.password_option(help="Asked for when not given.")
def add_command(username: str, role: str, password: str) -> None:
    """Add a staff user who can log in to /staff (asks for the password twice)."""
    name = _username(username)
    store = services.store()
    if store.staff_user(name) is not None:
        raise click.ClickException(f"{name} already exists (to change the password: flask staff password)")
    if not store.add_staff_user(name, hash_password(_check_password(password)), role):
        raise click.ClickException(f"could not save {name} in {store.url} (see the log above)")
    click.echo(f"added {name} ({role}): log in at /staff/login")


@staff.command("role")
@click.argument("username")
@click.argument("role", type=ROLE)
def role_command(username: str, role: str) -> None:
    """Give a staff user another role (their open sessions end); recorded in the audit log."""
    name = _username(username)
    store = services.store()
    user = store.staff_user(name)
    if user is None:
        raise click.ClickException(f"no staff user {name} in {store.url}")
    if user.role == role:
        click.echo(f"{name} is already {role}")
        return
    if not store.audit(
        command_line_actor(), ROLE_CHANGE, f"staff user {name}", detail=f"{user.role} to {role}"
    ):
        raise click.ClickException(
            f"could not write the audit log in {store.url}: {name}'s role is unchanged"
        )
    if not store.set_staff_role(name, role):
        raise click.ClickException(f"could not change {name}'s role in {store.url} (see the log above)")
    click.echo(f"{name} is now {role} (their open sessions have ended)")


@staff.command("password")
@click.argument("username")
@click.password_option(help="Asked for when not given.")
def password_command(username: str, password: str) -> None:
    """Set a staff user's password (their open sessions end)."""
    name = _username(username)
    store = services.store()
    if not store.set_staff_password(name, hash_password(_check_password(password))):
        raise click.ClickException(f"no staff user {name} in {store.url}")
    click.echo(f"password changed for {name}")


@staff.command("list")
def list_command() -> None:
    """List the staff users and their roles."""
    for user in services.store().staff_users():
        click.echo(f"{user.username}\t{user.role}")


@staff.command("unlock")
@click.argument("username")
def unlock_command(username: str) -> None:
    """Let a locked-out staff user try again now (the count is in Redis or the database, for every worker)."""
    name = _username(username)
    gate = services.throttle()
    if gate.shared is None:
        raise click.ClickException(
            "with no database each server worker keeps its own count, out of reach of this command:"
            f" {name} can log in again when the {gate.window_s // 60}-minute window ends, or after a restart"
        )
    if not gate.succeeded(name):
        raise click.ClickException(f"{gate.shared} is unavailable: {name} is still locked out (see the log)")
    click.echo(f"{name} may log in again now")


@staff.command("revoke")
@click.argument("username")
def revoke_command(username: str) -> None:
    """End every open session of a staff user at once, on every browser (they must log in again)."""
    name = _username(username)
    store = services.store()
    if store.staff_user(name) is None:
        raise click.ClickException(f"no staff user {name} in {store.url}")
    if not store.end_staff_sessions(name):
        raise click.ClickException(
            f"could not end {name}'s sessions: {store.url} is unavailable (see the log)"
        )
    click.echo(f"ended every session of {name}: they must log in again")
