"""`flask --app wsgi crm import FILE --kind ... [--commit]`: the web page's preview as text, and the same commit."""
from collections.abc import Callable

from sqlalchemy import select

from crm.auth.models import Role, User
from crm.errors import DomainError
from crm.extensions import db

from . import columns as cols
from . import services


def _user(email: str | None) -> User:
    stmt = select(User).where(User.is_active_user.is_(True))
    stmt = stmt.where(User.email == email.strip().lower()) if email else \
        stmt.where(User.role == Role.MANAGER.value).order_by(User.id)
    user = db.session.scalar(stmt.limit(1))
    if user is None:
        raise DomainError(f"no active user {email}" if email else "no active manager: name one with --as")
    return user


def run(path: str, *, kind: str, email: str | None, commit: bool, pool: bool, choice: str | None,
        echo: Callable) -> int:
    """Upload, preview and print; commit when asked. Returns the exit code (1: problems or refused)."""
    try:
        actor = _user(email)
        with open(path, "rb") as fh:
            imp = services.upload(fh, path, kind=kind, actor=actor, pool=pool)
        header = imp.header or []
        echo(f"Import #{imp.id}: {imp.filename} ({kind}), sheet {imp.sheet or '-'}, header in row {imp.header_row}")
        for index, key in sorted((int(i), k) for i, k in (imp.mapping or {}).items()):
            echo(f"  column {index + 1} “{header[index]}” → {cols.by_key(kind)[key].zh} ({key})")
        ignored = [h for i, h in enumerate(header) if str(i) not in (imp.mapping or {}) and h]
        if ignored:
            echo(f"  ignored: {', '.join(ignored)}")
        imp = services.preview(imp.id, actor=actor)
    except DomainError as exc:
        echo(f"error: {exc.message}")
        for field, messages in exc.fields.items():
            for message in messages:
                echo(f"  {field}: {message}")
        return 1
    if imp.status == "failed":
        echo(f"error: {imp.message}")
        return 1
    if choice:
        services.choose_all(imp.id, "duplicate", choice, actor=actor)
    print_preview(imp, echo)
    if not commit:
        echo("Preview only: nothing was written (add --commit to write).")
        return 1 if services.blocking_errors(imp) else 0
    try:
        services.start(imp.id, "commit", actor=actor)
        imp = services.commit(imp.id, actor=actor)
    except DomainError as exc:
        echo(f"refused: {exc.message}")
        return 1
    if imp.status != "committed":
        echo(f"not written: {imp.message}")
        return 1
    done = services.decisions(imp)
    echo(f"Committed import #{imp.id}: " + ", ".join(f"{n} {k}" for k, n in sorted(done.items())) + ".")
    return 0


def print_preview(imp, echo: Callable) -> None:
    counts = imp.counts or {}
    echo(f"{imp.rows_total or 0} rows: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    page = 1
    while True:
        rows, total = services.flagged_rows(imp, page=page)
        for row in rows:
            choice = f" [{row.choice}]" if row.choice else ""
            echo(f"  row {row.row}: {row.action}{choice} {row.label}")
            for column, message in row.problems or []:
                echo(f"    {column}: {message}")
        if page * services.PAGE >= total:
            break
        page += 1
    blocking = services.blocking_errors(imp)
    if blocking:
        echo(f"{blocking} rows have problems: a commit is refused until they are fixed or skipped.")
