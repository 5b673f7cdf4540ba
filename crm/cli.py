"""The `flask --app wsgi crm ...` commands; each is a few lines around a service."""
import os
import stat
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from crm.core.database import writing
from crm.errors import DomainError

crm_cli = AppGroup("crm", help="Investment-attraction CRM commands.")


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-credentials.txt"


@crm_cli.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["officer", "manager", "liaison", "admin"]), required=True)
@click.option("--password", help="Asked for (hidden) when not given.")
@click.option("--team", "team_name", help="Team name (created when missing).")
def create_user(email, name, role, password, team_name):
    """Create a user. There is no default admin: this is how the first one is made."""
    from sqlalchemy import select

    from crm.auth import services
    from crm.auth.models import Team
    from crm.extensions import db

    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with writing():
        team_id = None
        if team_name:
            team = db.session.scalar(select(Team).where(Team.name == team_name))
            if team is None:
                team = Team(name=team_name)
                db.session.add(team)
                db.session.commit()
            team_id = team.id
        try:
            user = services.create_user(services.UserInput(email=email, name=name, role=role, team_id=team_id),
                                        password, actor=None)
        except DomainError as exc:
            for field, msgs in exc.fields.items():
                click.echo(f"{field}: {'; '.join(msgs)}", err=True)
            raise click.ClickException(exc.message) from None
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@crm_cli.command("seed-demo")
@click.option("--companies", default=300, show_default=True, help="How many GBA prospects to generate.")
@click.option("--reference-only", is_flag=True, help="Only the zone's reference lists, no users or companies.")
def seed_demo(companies, reference_only):
    """Load the Ji'an demo zone (idempotent): reference lists, demo users of each role, companies, projects."""
    from crm import demo

    with writing():
        if reference_only:
            demo.seed_reference()
            click.echo("Reference lists loaded.")
            return
        result = demo.seed_demo(companies)
    if result["users"]:
        # added to the sign-ins of an earlier load (a newer demo brings new users): those passwords exist nowhere else
        path = _credentials_file()
        kept = [line for line in (path.read_text(encoding="utf-8").splitlines()[1:] if path.exists() else [])
                if line.strip() and line.split()[0] not in result["users"]]
        lines = kept + [f"{email}  {password}" for email, password in result["users"].items()]
        path.write_text("Demo sign-ins (e-mail  password):\n" + "\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    click.echo(f"Demo zone loaded: {len(result['users'])} new users, {result['companies']} new companies, "
               f"{result.get('projects', 0)} new projects, {result.get('meetings', 0)} new meetings, "
               f"{result.get('tasks', 0)} new tasks, {result.get('milestones', 0)} new milestones, "
               f"{result.get('requests', 0)} new enterprise requests, {result.get('targets', 0)} annual targets.")
    show_demo_credentials()


def show_demo_credentials():
    path = _credentials_file()
    if path.exists():
        click.echo(path.read_text(encoding="utf-8").rstrip())
        click.echo(f"(kept in {path})")


@crm_cli.command("demo-credentials")
def demo_credentials():
    """Print the demo sign-ins created by seed-demo."""
    show_demo_credentials()


@crm_cli.command("optimize-db")
def optimize_db():
    """Refresh the query planner's statistics (ANALYZE); after an import or bulk load, and daily from beat."""
    from crm.core.database import refresh_statistics
    from crm.extensions import db

    refresh_statistics(db.engine)
    click.echo("Planner statistics refreshed.")


@crm_cli.command("purge-sessions")
def purge_sessions():
    """Delete sessions and sign-in attempts that ended more than 30 days ago."""
    from crm.auth.services import purge_expired_sessions

    with writing():
        click.echo(f"{purge_expired_sessions()} old sessions deleted.")


@crm_cli.command("release-expired-claims")
def release_expired_claims():
    """Return to the public pool every prospect whose protection period ended (the worker does it daily at 02:30);
    the next reminder sweep tells the officers who held them."""
    from crm.companies.services import release_expired_claims as release
    from crm.jobs import record_run

    with record_run("companies.release_expired_claims") as run, writing():
        released = release()
        run.summary = f"{len(released)} companies returned to the public pool"
    click.echo(f"{len(released)} companies returned to the public pool.")


@crm_cli.command("backfill-milestones")
def backfill_milestones():
    """Give every live project already signed or later its standard milestones, as signing does now: for projects
    signed before the support board existed (or loaded without the projects service). Safe to run again."""
    from crm.support.services import backfill_standard_milestones

    with writing():
        done = backfill_standard_milestones()
    click.echo(f"{done} projects got their standard milestones.")


@crm_cli.group("reminders")
def reminders_cli():
    """Reminder e-mails (digest, meetings, escalation, stale leads, public pool, weekly summary)."""


def _moment(value: str):
    """An ISO time; without an offset it is read in the zone's time zone."""
    from datetime import datetime

    from crm.core.timeutil import zone

    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"not an ISO time: {value!r} (e.g. 2026-12-01T08:30+08:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone())


@reminders_cli.command("run")
@click.option("--now", "now_value", is_flag=False, flag_value="", default=None, metavar="[TIME]",
              help="Sweep as at this ISO time (bare --now: the current time).")
@click.option("--at", "at_value", metavar="TIME", help="The same as --now TIME.")
def reminders_run(now_value, at_value):
    """One reminder sweep, as the scheduler runs it every minute, then send what it found from this process.
    Running it again sends nothing twice."""
    from crm.core.timeutil import utcnow
    from crm.jobs import record_run
    from crm.notifications import services

    raw = at_value or now_value
    at = _moment(raw) if raw else utcnow()
    # recorded as a run of the scheduled sweep (the same work): the scheduler's health counts it
    with record_run("notifications.sweep") as run:
        result = services.run(at)
        done = ", ".join(f"{count} {outcome}" for outcome, count in sorted(result.outcomes.items())) or "nothing sent"
        run.summary = f"{result.found} due; {done}"
    click.echo(f"Reminders at {at.isoformat(timespec='minutes')}: {result.found} due; {done}.")


@reminders_cli.command("test-mail")
@click.option("--to", "to_email", required=True, help="The address to send the test e-mail to.")
@click.option("--lang", "language", default=None, help="Its language (zh_Hans_CN or en; default: the zone's).")
def reminders_test_mail(to_email, language):
    """Send one test e-mail through the configured SMTP server now (MAIL_*), to check the settings; prints what the
    server said. Exits with 1 when it did not go out."""
    from crm.notifications import services

    try:
        result = services.send_test_mail(to_email=to_email, language=language)
    except DomainError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    if not result.ok:
        click.echo(f"The test e-mail to {to_email} did not go out: {result.error}", err=True)
        raise SystemExit(1)
    if result.outbox_file:
        click.echo(f"No mail server is configured (MAIL_SERVER): the test e-mail was written to {result.outbox_file}")
    else:
        setup = services.mail_setup()
        click.echo(f"{setup.server}:{setup.port} accepted the test e-mail to {to_email}.")


@crm_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", type=click.Choice(["companies", "contacts", "projects"]), required=True)
@click.option("--as", "email", help="The importing user's e-mail (default: the first active manager).")
@click.option("--commit", "do_commit", is_flag=True, help="Write the rows (all or none) after the preview.")
@click.option("--pool", is_flag=True, help="Put new companies in the public pool instead of the user's hands.")
@click.option("--choose", "choice", type=click.Choice(["skip", "update", "create"]),
              help="One decision for every duplicate (default: the preview's: update a same-code match, skip others).")
def import_file(path, kind, email, do_commit, pool, choice):
    """Preview a spreadsheet import (.xlsx or .csv) as the web page shows it; with --commit, write it."""
    from crm.imports import cli as import_cli

    with writing():
        code = import_cli.run(path, kind=kind, email=email, commit=do_commit, pool=pool, choice=choice,
                              echo=click.echo)
    if code:
        raise click.exceptions.Exit(code)
