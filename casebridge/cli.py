"""Operator commands: ``casebridge <command>`` (or ``python -m casebridge``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path

from casebridge.calendar_source import CalendarOverrideError, load_calendar, parse_calendar_override
from casebridge.db.migrate import upgrade
from casebridge.db.models import User
from casebridge.db.seed import seed_demo_users
from casebridge.db.session import make_engine, make_session_factory
from casebridge.domain.model import Actor
from casebridge.domain.policy import PolicyError
from casebridge.entry import run_then_exit
from casebridge.operations import export_case, recompute_provisional_deadlines, reproject_from_history
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


async def _reproject(settings: Settings, case_id: str | None) -> None:
    engine = make_engine(settings.require_database_url(), pool_size=2)
    try:
        client = await connect(settings, attempts=3)
        runs, batches = await reproject_from_history(make_session_factory(engine), client, case_id)
        _out(f"read {runs} workflow runs; wrote {batches} projection batches again")
    finally:
        await engine.dispose()


async def _fetch_record(settings: Settings, case_id: str) -> dict[str, object] | None:
    engine = make_engine(settings.require_database_url(), pool_size=1)
    try:
        return await export_case(make_session_factory(engine), case_id)
    finally:
        await engine.dispose()


def _export(settings: Settings, case_id: str, output: str | None) -> None:
    record = asyncio.run(_fetch_record(settings, case_id))
    if record is None:
        raise SystemExit(f"no case {case_id}")
    text = json.dumps(record, ensure_ascii=False, indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        _out(f"wrote the record of {case_id} to {output}")
    else:
        _out(text)


def _load_calendar(settings: Settings, source: str) -> None:
    """Validate an override file and install it where the workers read it."""
    target = settings.calendar_overrides
    if target is None:
        raise SystemExit("set CASEBRIDGE_CALENDAR_OVERRIDES (for the workers too) to where the override lives")
    text = Path(source).read_text(encoding="utf-8")
    try:
        calendar = parse_calendar_override(text, source)
    except CalendarOverrideError as exc:
        raise SystemExit(str(exc)) from exc
    staged = target.with_suffix(target.suffix + ".new")
    staged.write_text(text, encoding="utf-8")
    staged.replace(target)  # atomic: a worker never reads half a file
    _out(f"calendar override installed at {target}: years {sorted(calendar.known_years)}")


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


def main() -> None:
    """The console entry point (see casebridge.entry for why it ends with os._exit)."""
    run_then_exit(run)


def run(argv: list[str] | None = None) -> None:
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
    load = commands.add_parser("load-calendar", help="validate and install a calendar override, then recompute")
    load.add_argument("file")
    reproject = commands.add_parser("reproject", help="rebuild the read model from the workflows' histories")
    reproject.add_argument("--case", help="only this case (or meeting) id")
    export = commands.add_parser("export", help="export a case's full record (a worker's data-access request)")
    export.add_argument("case_id")
    export.add_argument("--output", help="write to this file instead of standard output")
    args = parser.parse_args(argv)
    settings = get_settings()

    if args.command == "migrate":
        upgrade(settings.require_database_url())
        _out("database is at the latest migration")
    elif args.command == "seed-demo":
        if settings.env == "prod":
            raise SystemExit("demo users are for development only (CASEBRIDGE_ENV is prod)")
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
    elif args.command == "load-calendar":
        _load_calendar(settings, args.file)
        asyncio.run(_recompute(settings))
    elif args.command == "reproject":
        asyncio.run(_reproject(settings, args.case))
    elif args.command == "export":
        _export(settings, args.case_id, args.output)


if __name__ == "__main__":
    main()
