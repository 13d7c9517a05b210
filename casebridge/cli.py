"""Operator commands: ``casebridge <command>`` (or ``python -m casebridge``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from casebridge.calendar_source import load_calendar
from casebridge.db.migrate import upgrade
from casebridge.db.models import User
from casebridge.db.seed import seed_demo_users
from casebridge.db.session import make_engine, make_session_factory
from casebridge.domain.model import Actor
from casebridge.domain.policy import PolicyError
from casebridge.operations import recompute_provisional_deadlines
from casebridge.passwords import hash_password
from casebridge.policy_source import load_policy
from casebridge.settings import Settings, get_settings
from casebridge.temporal import connect


def _out(message: str) -> None:
    sys.stdout.write(message + "\n")


async def _create_user(settings: Settings, username: str, role: str, department: str | None) -> None:
    password = getpass.getpass(f"password for {username}: ")
    if len(password) < 8:
        raise SystemExit("a password needs at least 8 characters")
    engine = make_engine(settings.require_database_url(), pool_size=1)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            user = await session.get(User, username)
            if user is None:
                session.add(
                    User(username=username, password_hash=hash_password(password), role=role, department=department)
                )
                _out(f"created {username} ({role})")
            else:
                user.password_hash = hash_password(password)
                _out(f"password of {username} changed")
    finally:
        await engine.dispose()


async def _recompute(settings: Settings) -> None:
    engine = make_engine(settings.require_database_url(), pool_size=2)
    try:
        client = await connect(settings, attempts=3)
        cases, moved = await recompute_provisional_deadlines(
            make_session_factory(engine), client, Actor("cli", "admin")
        )
        _out(f"asked {cases} open cases with provisional deadlines; {moved} deadlines moved")
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="casebridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("seed-demo", help="create the demo users (password demo) if there are no users")
    user = commands.add_parser("user", help="create a user, or set a new password for an existing one")
    user.add_argument("username")
    user.add_argument("--role", choices=["officer", "department", "leader", "admin"], default="officer")
    user.add_argument("--department")
    commands.add_parser("check-policy", help="validate the policy file and the calendar override")
    commands.add_parser("recompute-deadlines", help="recompute provisional deadlines after a calendar update")
    args = parser.parse_args(argv)
    settings = get_settings()

    if args.command == "migrate":
        upgrade(settings.require_database_url())
        _out("database is at the latest migration")
    elif args.command == "seed-demo":
        created = asyncio.run(seed_demo_users(settings.require_database_url()))
        _out("demo users created (password demo)" if created else "users exist; nothing done")
    elif args.command == "user":
        asyncio.run(_create_user(settings, args.username, args.role, args.department))
    elif args.command == "check-policy":
        try:
            policy = load_policy(settings.policy)
        except PolicyError as exc:
            raise SystemExit(str(exc)) from exc
        calendar = load_calendar(settings.calendar_overrides)
        years = sorted(calendar.known_years)
        _out(f"policy {policy.source}: {len(policy.categories)} categories, {len(policy.departments)} departments")
        _out(f"calendar: published years {years[0]}–{years[-1]}")
    elif args.command == "recompute-deadlines":
        asyncio.run(_recompute(settings))


if __name__ == "__main__":
    main()
