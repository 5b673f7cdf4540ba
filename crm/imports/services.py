"""Import a spreadsheet: upload, header mapping, preview, all-or-nothing commit, rollback (issue 8; IE-1..IE-7).

One pass (`_Pass`) serves the preview and the commit: it streams the file's rows, parses each with the services'
field rules (crm.imports.columns), finds duplicates inside the file and matches in the book (the rules of
companies.services.find_duplicates, asked in batches), and decides per row: create, update, unchanged, duplicate,
skip or error. The preview stores what needs the user's eye (problems, duplicates, matches: `ImportRow`) and a hash
of every row's outcome. The commit runs the same pass again inside one transaction and writes: companies and
contacts with SQLAlchemy Core executemany (the rules already applied by the pass: parsed values, name key, search
text, claims), projects through projects.services.create_project. If any row now comes out otherwise than in the
preview (a company with the same code was created meanwhile) the commit writes nothing and the preview is shown
again. What a commit wrote is listed (`ImportRecord`) with the version it left, so the import can be rolled back while
none of its records changed since.
"""
import functools
import hashlib
import itertools
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, and_, any_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from crm.audit import services as audit
from crm.audit.models import AuditEvent
from crm.auth import access
from crm.auth.models import Role, User
from crm.companies import services as companies
from crm.companies.models import Company, Contact
from crm.core import fields as rules
from crm.core.database import writing
from crm.core.text import fold_width, normalise_name
from crm.core.timeutil import as_aware, utcnow
from crm.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db
from crm.projects import services as projects
from crm.projects.models import Project
from crm.reference import services as reference

from . import columns as cols
from . import exports
from .models import ImportRecord, ImportRow, ImportRun
from .readers import MAX_BYTES, MAX_ROWS, ReadError, open_table, sniff

logger = logging.getLogger(__name__)

#: rows parsed, looked up and written together
BATCH = 1000
#: a preview holds this long; an older one is run again before a commit
PREVIEW_TTL = timedelta(hours=24)
#: files up to this many rows are previewed and committed within the request; larger ones in the worker
INLINE_ROWS = 2000
#: flagged rows shown per page of the preview
PAGE = 100
CHOICES = ("skip", "update", "create")


def _max_bytes() -> int:
    return int(current_app.config.get("CRM_IMPORT_MAX_BYTES", MAX_BYTES))


def _max_rows() -> int:
    return int(current_app.config.get("CRM_IMPORT_MAX_ROWS", MAX_ROWS))


def import_dir() -> Path:
    """Where uploads are kept: instance/imports/ (not web-served), created on first use."""
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stored_path(run: ImportRun) -> Path:
    return import_dir() / run.stored_name


# --- who may see an import -------------------------------------------------------------------------------------------

def _require_staff(actor: User) -> None:
    if actor.role not in access.STAFF_ROLES:
        raise Forbidden(str(_l("Your role cannot import.")))


def visible_import(import_id: int, actor: User) -> ImportRun:
    """An import the actor may see: their own; managers and admins every one (anything else is a 404)."""
    run = db.session.get(ImportRun, import_id)
    if run is None or actor.role not in access.STAFF_ROLES or \
            (run.actor_id != actor.id and not access.is_manager(actor)):
        raise NotFound(str(_l("No such import.")))
    return run


def history(actor: User, *, limit: int = 100) -> list[ImportRun]:
    """The latest imports: one's own, or everyone's for a manager."""
    _require_staff(actor)
    stmt = select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)
    if not access.is_manager(actor):
        stmt = stmt.where(ImportRun.actor_id == actor.id)
    return list(db.session.scalars(stmt))


# --- progress (a file, so a page sees it while the commit's transaction is still open) ------------------------------

def progress_path(run_or_name) -> Path:
    name = getattr(run_or_name, "stored_name", run_or_name)
    return import_dir() / f"{name}.progress.json"


def write_progress(run: ImportRun, **values) -> None:
    path = progress_path(run)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values), encoding="utf-8")
    os.replace(tmp, path)


def read_progress(run: ImportRun) -> dict:
    try:
        return json.loads(progress_path(run).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# --- the stored files: gone once an import is finished, and after FILES_KEPT whatever became of it ------------------

#: how long an upload's files are kept when its import is left unfinished (uploaded, previewed, failed)
FILES_KEPT = timedelta(days=7)


def discard_files(run: ImportRun, *, progress: bool = False) -> None:
    """Delete an import's stored upload and its parse (once committed or rolled back nothing reads them again: a
    rollback works from import_record); with `progress`, its progress file too."""
    paths = [stored_path(run), parsed_path(run), parsed_path(run).with_suffix(".tmp")]
    if progress:
        paths.append(progress_path(run))
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # never fails the import that is done: the periodic clean takes it later
            logger.warning("could not delete %s", path, exc_info=True)


def housekeep() -> tuple[int, int]:
    """The imports' and exports' daily housekeeping (the worker's housekeeping task and `flask --app wsgi imports
    clean` both run this): stored files of finished or abandoned imports deleted, the export log pruned. Returns
    (files deleted, log entries pruned); the caller commits."""
    return clean_files(), exports.prune_log()


def clean_files(*, older_than: timedelta = FILES_KEPT) -> int:
    """The periodic clean of instance/imports/: delete the files of finished imports, and every file older than
    `older_than` (an import left unfinished: uploaded, previewed or failed, and abandoned), except those of an
    import running now (previewing, committing). Returns how many files were deleted."""
    def stems(statuses, *extra) -> set[str]:
        return {name.split(".", 1)[0] for name in db.session.scalars(select(ImportRun.stored_name).where(
            ImportRun.status.in_(statuses), *extra))}

    finished = stems(("committed", "rolled_back"), ImportRun.updated_at >= utcnow() - 2 * older_than)
    running = stems(("previewing", "committing"))
    cutoff = time.time() - older_than.total_seconds()
    deleted = 0
    for path in import_dir().iterdir():
        stem = path.name.split(".", 1)[0]
        if stem in running or not path.is_file():
            continue
        try:
            if path.stat().st_mtime < cutoff or (stem in finished and not path.name.endswith(".progress.json")):
                path.unlink()
                deleted += 1
        except OSError:
            logger.warning("could not delete %s", path, exc_info=True)
    return deleted


# --- upload and mapping ----------------------------------------------------------------------------------------------

def upload(stream, filename: str, *, kind: str, actor: User, pool: bool = False) -> ImportRun:
    """Keep the uploaded file under instance/imports/ (by a random name), find its sheet and header and map the
    columns from their headers. A file that is not a readable spreadsheet raises Invalid with the reason."""
    _require_staff(actor)
    if kind not in cols.KINDS:
        raise NotFound(str(_l("No such kind of import.")))
    filename = os.path.basename((filename or "upload").replace("\\", "/"))[:200] or "upload"
    name = f"{secrets.token_hex(16)}{os.path.splitext(filename)[1].lower()[:10]}"
    path = import_dir() / name
    digest, size, limit = hashlib.sha256(), 0, _max_bytes()
    try:
        with open(path, "wb") as out:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise Invalid(str(_l("The file is larger than %(mb)d MB: split it into smaller files.",
                                         mb=limit // (1024 * 1024))), {"file": []})
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Invalid(str(_l("The file is empty.")), {"file": []})
        try:
            with open_table(str(path), filename, kind=kind, max_rows=_max_rows()) as table:
                header, header_row, sheet, estimate = table.header, table.header_row, table.sheet, \
                    table.rows_estimate
        except ReadError as exc:
            raise Invalid(exc.message, {"file": [exc.message]}) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    mapping = cols.auto_mapping(kind, header)
    run = ImportRun(kind=kind, filename=filename, stored_name=name, file_hash=digest.hexdigest(), size=size,
                    actor_id=actor.id, status="uploaded", sheet=sheet[:100], header_row=header_row,
                    header=header[:200], mapping=mapping, options={"pool": bool(pool)}, rows_total=estimate,
                    message="")
    db.session.add(run)
    db.session.commit()
    return run


def missing_columns(kind: str, mapping: dict) -> list[cols.Column]:
    """Required columns the mapping leaves out (a company's name; a contact's or project's company and name)."""
    mapped = set(mapping.values())
    need = [c for c in cols.importable(kind) if c.required]
    if kind in ("contacts", "projects"):
        need = [c for c in need if c.key != "company"]
        if not mapped & {"company", "company_uscc"}:
            need.insert(0, cols.by_key(kind)["company"])
    return [c for c in need if c.key not in mapped]


def set_mapping(import_id: int, mapping: dict, *, actor: User) -> ImportRun:
    """The user's header mapping: column index → column key ("" ignores a column). Each key at most once."""
    run = _own(import_id, actor)
    if run.status not in ("uploaded", "previewed"):
        raise Conflict(str(_l("This import is no longer open for changes.")))
    allowed = {c.key for c in cols.importable(run.kind)}
    clean, errors = {}, {}
    for index, key in mapping.items():
        if not key:
            continue
        if not str(index).isdigit() or int(index) >= len(run.header or []) or key not in allowed:
            errors[f"col{index}"] = [str(_l("Choose a column of the list."))]
        elif key in clean.values():
            errors[f"col{index}"] = [str(_l("Two columns cannot both be “%(name)s”.",
                                            name=cols.by_key(run.kind)[key].zh))]
        else:
            clean[str(int(index))] = key
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    run.mapping = clean
    run.status, run.digest, run.counts, run.previewed_at = "uploaded", None, None, None
    parsed_path(run).unlink(missing_ok=True)  # parsed with the old mapping
    db.session.execute(delete(ImportRow).where(ImportRow.import_id == run.id))
    db.session.commit()
    return run


def _own(import_id: int, actor: User) -> ImportRun:
    """An import the actor may act on: the importer's own (a manager sees others' but acts only on rollback)."""
    run = visible_import(import_id, actor)
    if run.actor_id != actor.id:
        raise Forbidden(str(_l("Only the officer who uploaded this file can go on with it.")))
    return run


def choose(import_id: int, row: int, choice: str, *, actor: User) -> ImportRow:
    """The user's decision for one flagged row: skip, update or create anyway (among the row's options)."""
    run = _own(import_id, actor)
    if run.status != "previewed":
        raise Conflict(str(_l("This import is no longer open for changes.")))
    flagged = db.session.scalar(select(ImportRow).where(ImportRow.import_id == run.id, ImportRow.row == row))
    if flagged is None:
        raise NotFound(str(_l("No such row.")))
    if choice not in (flagged.options or []):
        raise Invalid(str(_l("This choice is not open for the row.")), {"choice": []})
    flagged.choice = choice
    db.session.commit()
    return flagged


def choose_all(import_id: int, action: str, choice: str, *, actor: User) -> int:
    """One decision for every flagged row of an action (every duplicate: skip) where it is one of the options."""
    run = _own(import_id, actor)
    if run.status != "previewed":
        raise Conflict(str(_l("This import is no longer open for changes.")))
    if choice not in CHOICES:
        raise Invalid(str(_l("This choice is not open for the row.")), {"choice": []})
    rows = db.session.scalars(select(ImportRow).where(ImportRow.import_id == run.id, ImportRow.action == action))
    n = 0
    for flagged in rows:
        if choice in (flagged.options or []):
            flagged.choice = choice
            n += 1
    db.session.commit()
    return n


def flagged_rows(run: ImportRun, *, page: int = 1, only: str = "") -> tuple[list[ImportRow], int]:
    stmt = select(ImportRow).where(ImportRow.import_id == run.id)
    if only in cols_actions():
        stmt = stmt.where(ImportRow.action == only)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(stmt.order_by(ImportRow.row).offset((page - 1) * PAGE).limit(PAGE)))
    return rows, total


def cols_actions() -> tuple[str, ...]:
    from .models import ACTIONS

    return ACTIONS


def blocking_errors(run: ImportRun) -> int:
    """Rows with problems the user has not chosen to skip: the commit is refused while there are any (IE-1)."""
    return db.session.scalar(select(func.count()).select_from(ImportRow).where(
        ImportRow.import_id == run.id, ImportRow.action == "error",
        or_(ImportRow.choice.is_(None), ImportRow.choice != "skip")))


def decisions(run: ImportRun) -> dict[str, int]:
    """What the commit will do, by effective action (the preview's counts with the user's choices applied)."""
    out = {k: v for k, v in (run.counts or {}).items() if k in ("create", "unchanged")}
    rows = db.session.execute(select(ImportRow.action, ImportRow.choice, func.count()).where(
        ImportRow.import_id == run.id).group_by(ImportRow.action, ImportRow.choice)).all()
    for action, choice, n in rows:
        effective = _effective(action, choice)
        out[effective] = out.get(effective, 0) + n
    return out


def _effective(action: str, choice: str | None) -> str:
    if action == "error":
        return "skip" if choice == "skip" else "error"
    if choice:
        return choice
    return {"duplicate": "skip"}.get(action, action)


# --- the pass: read, parse, match, decide (and write) ----------------------------------------------------------------

@dataclass
class Outcome:
    row: int
    values: dict
    problems: list = field(default_factory=list)
    action: str = "create"
    match: dict | None = None
    options: list | None = None
    default: str | None = None
    #: the matched record (a Row of its columns)
    current: object = None
    #: for contacts and projects: the company the row belongs to
    company_id: int | None = None
    #: the keys that make a later row of the file a duplicate of this one: (kind, value, code or None)
    file_keys: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(self.values.get("name") or self.values.get("company") or "")[:200]


@functools.lru_cache(maxsize=4096)
def _name_norm(name: str) -> str:
    """normalise_name, remembered for the few thousand names of a batch (each is asked for three or four times: the
    file's keys, the book's matches, the decision, the row written)."""
    return normalise_name(name)


def _one_of(column, values):
    """`column IN (values)` for a batch's thousand values, in a few statement texts only: SQLite's driver keeps each
    distinct statement it prepared (up to 128 a connection, each as large as its placeholders), so memory grew with
    every new length; and psycopg parses a statement of a thousand placeholders again at every execution.
    PostgreSQL: `= ANY(:array)`, one parameter (the pass asks for custom plans: a generic plan made while the table
    was small would scan it). Elsewhere: IN, the list padded to a multiple of 250 by repeating its last value."""
    values = list(values)
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    if values:
        values += values[-1:] * (-len(values) % 250)
    return column.in_(values)


def bulk_insert(table, rows: Iterable[dict]) -> None:
    """Insert rows of one shape into `table` within the session's transaction: PostgreSQL's COPY (what
    bench/generate.py loads with; several times faster than an executemany there), else one Core executemany.
    Column defaults are not applied: the caller gives every value it needs. `rows` may be a generator: on
    PostgreSQL each row is made as the COPY streams, while the server writes the ones sent before it."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    if db.engine.dialect.name != "postgresql":
        db.session.execute(table.insert(), [first, *rows])
        return
    from psycopg.types.json import Json

    names = list(first)
    json_columns = {n for n in names if isinstance(table.c[n].type, JSON)}
    raw = db.session.connection().connection.driver_connection
    quoted = ", ".join(f'"{n}"' for n in names)
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in itertools.chain((first,), rows):
            copy.write_row([Json(row[n]) if n in json_columns and row[n] is not None else row[n] for n in names])


def _tagged(value):
    """JSON for the parsed rows' spool: decimals and dates tagged, so they come back as they were."""
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, date):
        return {"$t": value.isoformat()}
    raise TypeError(type(value))


def _untagged(obj: dict):
    if "$d" in obj and len(obj) == 1:
        return Decimal(obj["$d"])
    if "$t" in obj and len(obj) == 1:
        return date.fromisoformat(obj["$t"])
    return obj


def _tupled(value):
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def parsed_path(run) -> Path:
    return import_dir() / f"{run.stored_name}.parsed.jsonl"


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class _SeenKeys:
    """The file's keys seen so far ((kind, value) → (row, code)), for the duplicates inside the file: kept in a
    temporary SQLite file with a unique index rather than in memory (about 150 bytes a row: 15 MB at 100,000 rows),
    asked once per batch of rows, so that memory stays flat in the number of rows."""

    def __init__(self):
        import sqlite3

        self._dir = tempfile.TemporaryDirectory(prefix="crm-import-keys-")
        self._db = sqlite3.connect(os.path.join(self._dir.name, "keys.sqlite"), isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("PRAGMA cache_size = -2000")  # 2 MB
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER, code TEXT) WITHOUT ROWID")
        self._known: dict[str, tuple] = {}
        self._new: dict[str, tuple] = {}
        self._select = f"SELECT key, row, code FROM seen WHERE key IN ({','.join('?' * 500)})"

    @staticmethod
    def _key(key: tuple) -> str:
        kind, value = key
        return f"{kind}\x1f{value}" if isinstance(value, str) else f"{kind}\x1f{value!r}"

    def prefetch(self, keys: list[tuple]) -> None:
        """Load what is known of a batch's keys."""
        self._known = {}
        wanted = list({self._key(k) for k in keys})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            chunk += chunk[-1:] * (500 - len(chunk))  # one statement text (the driver keeps each one it prepared)
            for key, row, code in self._db.execute(self._select, chunk):
                self._known[key] = (row, code)

    def get(self, key: tuple):
        k = self._key(key)
        return self._new.get(k) or self._known.get(k)

    def setdefault(self, key: tuple, value: tuple) -> None:
        k = self._key(key)
        if k not in self._known and k not in self._new:
            self._new[k] = value

    def store(self) -> None:
        """Write the batch's new keys."""
        if self._new:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                                 [(k, row, code) for k, (row, code) in self._new.items()])
            self._db.execute("COMMIT")
        self._new, self._known = {}, {}

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


class _Stop(Exception):
    """The commit found the data changed since the preview (or a row now fails): write nothing."""


class _Pass:
    """One reading of the file; `write` makes it the commit."""

    def __init__(self, run: ImportRun, actor: User, *, write: bool, choices: dict[int, str] | None = None,
                 progress: Callable | None = None):
        self.run, self.actor, self.write = run, actor, write
        self.kind = run.kind
        self.columns = cols.by_key(run.kind)
        self.mapping = {int(i): k for i, k in (run.mapping or {}).items()}
        self.choices = choices or {}
        self.progress = progress
        self.refs = cols.reference_lookup()
        self.valid_refs = {kind: reference.valid_keys(kind) for kind in ("cluster", "park", "city", "source")}
        self.counts: dict[str, int] = {}
        self.digest = hashlib.sha256()
        #: the keys of the rows read so far, for the duplicates inside the file (a temporary SQLite file)
        self.seen = _SeenKeys()
        #: the preview's flagged rows, spooled to a temporary file until the end (memory stays flat)
        self.spool = None
        self.read = self.written = 0
        self.total = run.rows_total
        self.now = utcnow()
        self.owners: dict[int, str] = {}
        self.handler = {"companies": _Companies, "contacts": _Contacts, "projects": _Projects}[self.kind](self)

    # -- reading and parsing

    def run_pass(self) -> None:
        try:
            self._run_pass()
        finally:
            self.seen.close()

    def _run_pass(self) -> None:
        if db.engine.dialect.name == "postgresql":
            # custom plans for the batch queries (`= ANY(:array)`): psycopg prepares a statement run five times, and
            # a generic plan made while the table was small would scan it for every batch (the commit fills it)
            db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        parsed = parsed_path(self.run)
        if self.write and parsed.exists():
            self._feed(self._from_parsed(parsed))
        else:
            with open_table(str(stored_path(self.run)), self.run.filename, kind=self.kind, max_rows=_max_rows(),
                            sheet_name=self.run.sheet or None) as table:
                if table.header_row != self.run.header_row:
                    raise ReadError(_l("The file changed since it was uploaded."))
                if self.write:
                    self._feed(self.parse(number, cells) for number, cells in table.rows)
                else:
                    self._feed(self._spooled(table.rows, parsed))
        self.total = self.read
        self.report(force=True)

    def _feed(self, outcomes) -> None:
        batch = []
        for outcome in outcomes:
            batch.append(outcome)
            self.read += 1
            if len(batch) >= BATCH:
                self.flush(batch)
                batch = []
        if batch:
            self.flush(batch)

    def _spooled(self, rows, parsed: Path):
        """The preview's parsed rows, kept for the commit (the file's reading and the field rules are the same
        then; what the book says is asked again): written beside the upload, in place once the pass is whole."""
        tmp = parsed.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            for number, cells in rows:
                outcome = self.parse(number, cells)
                out.write(json.dumps([outcome.row, outcome.values, outcome.problems, outcome.file_keys],
                                     ensure_ascii=False, default=_tagged) + "\n")
                yield outcome
        os.replace(tmp, parsed)

    def _from_parsed(self, parsed: Path):
        """The commit's rows from the preview's parse; reference values are checked again (a cluster may have been
        retired since the preview)."""
        with open(parsed, encoding="utf-8") as fh:
            for line in fh:
                row, values, problems, keys = json.loads(line, object_hook=_untagged)
                outcome = Outcome(row, values, [tuple(p) for p in problems],
                                  file_keys=[_tupled(k) for k in keys])
                for key, value in list(values.items()):
                    col = self.columns[key]
                    if col.ref and value and value not in self.valid_refs[col.ref]:
                        outcome.problems.append((key, str(_l("“%(value)s” is not in the list of %(list)s.",
                                                             value=value, list=col.header(False)))))
                        del values[key]
                yield outcome

    def parse(self, number: int, cells: list) -> Outcome:
        values, problems = {}, []
        for index, key in self.mapping.items():
            col = self.columns[key]
            cell = cells[index] if index < len(cells) else None
            try:
                value = cols.parse_cell(col, cell, self.refs)
            except (cols.CellError, rules.FieldError) as exc:
                problems.append((key, str(exc.args[0])))
                continue
            if col.ref and value and value not in self.valid_refs[col.ref]:
                problems.append((key, str(_l("“%(value)s” is not in the list of %(list)s.", value=value,
                                             list=col.header(False)))))
                continue
            values[key] = value
        outcome = Outcome(number, values, problems)
        self.handler.check(outcome)
        return outcome

    def flush(self, batch: list[Outcome]) -> None:
        self.handler.lookup([o for o in batch if not o.problems])
        self.seen.prefetch([(kind, value) for o in batch for kind, value, _code in o.file_keys])
        for outcome in batch:
            self.decide(outcome)
        self.seen.store()
        if self.write:
            self.handler.write(batch)
        else:
            if self.spool is None:
                self.spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
            for o in batch:
                if o.action not in ("create", "unchanged"):
                    self.spool.write(json.dumps(self.flag(o), ensure_ascii=False) + "\n")
        self.report()

    def report(self, force: bool = False) -> None:
        if self.progress and (force or self.read % 2000 < BATCH):
            self.progress(read=self.read, written=self.written, total=self.total)

    # -- deciding

    def name_of(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in self.owners:
            self.owners[user_id] = db.session.scalar(select(User.name).where(User.id == user_id)) or ""
        return self.owners[user_id]

    def decide(self, o: Outcome) -> None:
        if o.problems:
            o.action = "error"
            o.options, o.default = ["skip"], None
        elif (earlier := self.earlier_row(o)) is not None:
            first, column, hard = earlier
            o.action = "duplicate"
            o.problems.append((column, str(_l("The same as row %(row)d of this file.", row=first))))
            o.options, o.default = (["skip"] if hard else ["skip", "create"]), "skip"
        else:
            for kind, value, code in o.file_keys:
                self.seen.setdefault((kind, value), (o.row, code))
            self.handler.decide(o)
        self.digest.update(f"{o.row}:{o.action}:{(o.match or {}).get('id')}:{o.options}\n".encode())
        effective = o.action
        if o.action not in ("create", "unchanged"):
            chosen = self.choices.get(o.row)
            effective = _effective(o.action, chosen if chosen in (o.options or []) else o.default)
        if self.write and effective == "error":
            raise _Stop(str(_l("Row %(row)d has problems: fix them or skip the row.", row=o.row)))
        self.counts[o.action] = self.counts.get(o.action, 0) + 1
        o.action_effective = effective

    def earlier_row(self, o: Outcome):
        """(row, column, same code?) of an earlier row of the file this one repeats: the same code, or the same name
        key where the two rows do not carry two different codes."""
        for kind, value, code in o.file_keys:
            seen = self.seen.get((kind, value))
            if seen is None:
                continue
            row, other_code = seen
            if kind == "uscc":
                return row, "uscc", True
            if code and other_code and code != other_code:
                continue
            return row, kind, False
        return None

    def match_info(self, record_id: int, name: str, owner_id: int | None, reason: str, visible: bool,
                   editable: bool) -> dict:
        return {"id": record_id, "name": name, "owner": self.name_of(owner_id), "reason": reason,
                "visible": visible, "editable": editable}

    def flag(self, o: Outcome) -> dict:
        return {"import_id": self.run.id, "row": o.row, "action": o.action, "label": o.label,
                "problems": [[self.header_of(k), m] for k, m in o.problems] or None, "match": o.match,
                "options": o.options, "choice": self.choices.get(o.row) if self.choices.get(o.row) in (o.options or [])
                else o.default}

    def header_of(self, key: str) -> str:
        for index, mapped in self.mapping.items():
            if mapped == key:
                header = (self.run.header or [])[index] if index < len(self.run.header or []) else ""
                return header or self.columns[key].zh
        col = self.columns.get(key)
        return col.zh if col else key

    def save_flagged(self) -> None:
        """Write the spooled flagged rows (after the pass, in a short write transaction of their own)."""
        if self.spool is None:
            return
        self.spool.seek(0)
        batch = []
        for line in self.spool:
            batch.append(json.loads(line))
            if len(batch) >= BATCH:
                db.session.execute(ImportRow.__table__.insert(), batch)
                batch = []
        if batch:
            db.session.execute(ImportRow.__table__.insert(), batch)
        self.spool.close()
        self.spool = None

    # -- writing helpers

    def allocate_ids(self, model, n: int) -> list[int]:
        """Ids for `n` new rows, taken before the INSERT (so no RETURNING is needed: PostgreSQL's executemany with
        RETURNING is several times slower). PostgreSQL draws them from the sequence; SQLite's writer holds the
        database's write lock (BEGIN IMMEDIATE), so the next ids after the largest are ours."""
        if n == 0:
            return []
        table = model.__table__
        if db.engine.dialect.name == "postgresql":
            seq = db.session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
            return list(db.session.scalars(text("SELECT nextval(:s) FROM generate_series(1, :n)"),
                                           {"s": seq, "n": n}))
        start = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
        return list(range(start, start + n))

    def record(self, rows: list[dict]) -> None:
        if rows:
            # one shape for every row: an executemany compiles its INSERT from the first row's keys
            bulk_insert(ImportRecord.__table__, [{"import_id": self.run.id, "before": None, **r} for r in rows])


def _same(new, old) -> bool:
    if isinstance(new, Decimal) or isinstance(old, Decimal):
        try:
            return old is not None and new is not None and Decimal(new) == Decimal(old)
        except Exception:
            return False
    if isinstance(new, list) or isinstance(old, list):
        return list(new or []) == list(old or [])
    return new == old


def _changes(values: dict, current, keys) -> dict:
    """The fields whose new value differs from the stored one (an empty cell keeps the stored value)."""
    out = {}
    for key in keys:
        if key not in values:
            continue
        new = values[key]
        if new in (None, "", []) and key not in ("hmt_funded", "key_project", "confidential"):
            continue
        old = getattr(current, key)
        if not _same(new, old):
            out[key] = (old, new)
    return out


# --- companies -------------------------------------------------------------------------------------------------------

_COMPANY_KEYS = tuple(companies.COMPANY_FIELDS)
_BOOLEAN_DEFAULTS = {"hmt_funded": False, "key_project": False, "confidential": False}


class _Companies:
    def __init__(self, p: _Pass):
        self.p = p
        self.found: dict = {}
        self.protection = companies.protection_period()
        self.pool = bool((p.run.options or {}).get("pool")) or p.actor.role == Role.ADMIN.value

    def check(self, o: Outcome) -> None:
        v = o.values
        if not v.get("name") and not any(k == "name" for k, _m in o.problems):
            o.problems.append(("name", str(_l("This field is required."))))
        if v.get("uscc"):
            o.file_keys.append(("uscc", v["uscc"], v["uscc"]))
        if v.get("name"):
            o.file_keys.append(("name", _name_norm(v["name"]), v.get("uscc")))
        if v.get("contact_mobile") and not v.get("contact_name"):
            o.problems.append(("contact_name", str(_l("A contact's phone needs the contact's name."))))

    def lookup(self, batch: list[Outcome]) -> None:
        """The book's companies matching the batch by code, by name key or by a contact's phone (the rules of
        companies.services.find_duplicates, for a thousand rows in three queries)."""
        usccs = {o.values["uscc"] for o in batch if o.values.get("uscc")}
        names = {_name_norm(o.values["name"]) for o in batch if o.values.get("name")}
        phones = {o.values["contact_mobile"] for o in batch if o.values.get("contact_mobile")}
        live = Company.deleted_at.is_(None)
        by_uscc, by_name, by_phone = {}, {}, {}
        conds = []
        if usccs:
            conds.append(_one_of(Company.uscc, usccs))
        if names:
            conds.append(_one_of(Company.name_norm, names))
        ids_by_phone = {}
        if phones:
            for company_id, mobile in db.session.execute(select(Contact.company_id, Contact.mobile).where(
                    _one_of(Contact.mobile, phones), Contact.deleted_at.is_(None)).order_by(Contact.company_id)):
                ids_by_phone.setdefault(mobile, company_id)
            if ids_by_phone:
                conds.append(_one_of(Company.id, set(ids_by_phone.values())))
        self.found = {}
        if not conds:
            return
        rows = db.session.execute(select(Company.__table__).where(live, or_(*conds)).order_by(Company.id)).all()
        visible = set(db.session.scalars(select(Company.id).where(
            _one_of(Company.id, [r.id for r in rows]), access.company_scope(self.p.actor)))) if rows else set()
        for r in rows:
            if r.uscc:
                by_uscc.setdefault(r.uscc, r)
            by_name.setdefault(r.name_norm, r)
        by_id = {r.id: r for r in rows}
        for mobile, company_id in ids_by_phone.items():
            if company_id in by_id:
                by_phone[mobile] = by_id[company_id]
        self.found = {"uscc": by_uscc, "name": by_name, "phone": by_phone, "visible": visible}

    def decide(self, o: Outcome) -> None:
        v, f = o.values, self.found
        match = reason = None
        if f:
            if v.get("uscc") and v["uscc"] in f["uscc"]:
                match, reason = f["uscc"][v["uscc"]], "uscc"
            elif v.get("name") and _name_norm(v["name"]) in f["name"]:
                match, reason = f["name"][_name_norm(v["name"])], "name"
            elif v.get("contact_mobile") and v["contact_mobile"] in f["phone"]:
                match, reason = f["phone"][v["contact_mobile"]], "phone"
        if match is None:
            o.action = "create"
            return
        visible = match.id in f["visible"]
        editable = visible and access.can_edit_company(self.p.actor, match)
        o.current = match
        o.match = self.p.match_info(match.id, match.name, match.owner_id, reason, visible, editable)
        changes = _changes(v, match, _COMPANY_KEYS)
        if v.get("uscc") and match.uscc and v["uscc"] != match.uscc:
            changes = {**changes, "_other_code": True}
        if not changes:
            o.action = "unchanged"
            return
        if reason == "uscc":
            o.action = "update"
            o.options = ["update", "skip"] if editable else ["skip"]
            o.default = "update" if editable else "skip"
            if not editable:
                o.problems.append(("uscc", _held_message(o.match)))
        else:
            # a look-alike (same name key or phone): the user decides; two different codes are two companies
            o.action = "duplicate"
            o.options = ["skip", *(["update"] if editable and "_other_code" not in changes else []), "create"]
            o.default = "skip"
            o.problems.append((reason == "phone" and "contact_mobile" or "name", _held_message(o.match)))

    def write(self, batch: list[Outcome]) -> None:
        p = self.p
        creates = [o for o in batch if o.action_effective == "create"]
        updates = [o for o in batch if o.action_effective == "update" and o.current is not None]
        ids = p.allocate_ids(Company, len(creates))
        owner = None if self.pool else p.actor.id
        contacts, records = [], []

        def company_rows():
            for o, company_id in zip(creates, ids, strict=True):
                values = {k: o.values.get(k, _BOOLEAN_DEFAULTS.get(k)) for k in _COMPANY_KEYS}
                for key, rule in companies.COMPANY_FIELDS.items():
                    if values[key] is None:
                        values[key] = rule.empty()
                contact = None
                if o.values.get("contact_name"):
                    contact = {"name": o.values["contact_name"], "title": o.values.get("contact_title") or "",
                               "mobile": o.values.get("contact_mobile") or "",
                               "email": o.values.get("contact_email") or "", "wechat": "", "notes": ""}
                shell = SimpleNamespace(**values)
                companies.refresh_search_text(shell, [SimpleNamespace(**contact)] if contact else [])
                records.append({"object_type": "company", "object_id": company_id, "action": "create",
                                "version": 1})
                if contact:
                    contacts.append({**contact, "company_id": company_id})
                yield {**values, "id": company_id, "name_norm": _name_norm(values["name"]),
                       "search_text": shell.search_text, "owner_id": owner,
                       "claimed_at": p.now if owner else None,
                       "claimed_until": p.now + self.protection if owner else None,
                       "last_activity_at": p.now, "created_at": p.now, "updated_at": p.now, "version": 1}

        # each row is made as the COPY sends it: PostgreSQL writes the earlier rows (its indexes: the trigram one
        # above all) while the later rows' search text (pinyin) is worked out here, instead of one waiting on the other
        bulk_insert(Company.__table__, company_rows())
        if contacts:
            contact_ids = p.allocate_ids(Contact, len(contacts))
            # not listed one by one: a new company's first contact goes with it (created at the commit's time,
            # version 1: `rollback_problems` tells them from contacts added since)
            bulk_insert(Contact.__table__, [{**c, "id": i, "version": 1, "created_at": p.now, "updated_at": p.now}
                                            for c, i in zip(contacts, contact_ids, strict=True)])
        if updates:
            self.update(updates, records)
        p.record(records)
        p.written += len(creates) + len(updates)

    def update(self, updates: list[Outcome], records: list[dict]) -> None:
        """UPDATE ... WHERE id = :id AND version = :read: a company changed since this pass read it stops the commit
        (bulk paths check versions themselves: DI-2)."""
        p = self.p
        ids = [o.current.id for o in updates]
        contacts: dict[int, list] = {}
        for c in db.session.execute(select(Contact.company_id, Contact.name, Contact.mobile).where(
                _one_of(Contact.company_id, ids), Contact.deleted_at.is_(None)).order_by(Contact.id)):
            contacts.setdefault(c.company_id, []).append(c)
        audits = []
        for o in updates:
            current = o.current
            changes = {k: v for k, v in _changes(o.values, current, _COMPANY_KEYS).items()}
            new = {k: v[1] for k, v in changes.items()}
            merged = {k: new.get(k, getattr(current, k)) for k in ("name", "short_name", "uscc")}
            shell = SimpleNamespace(**merged)
            companies.refresh_search_text(shell, contacts.get(current.id, []))
            values = {**new, "search_text": shell.search_text, "version": current.version + 1,
                      "updated_at": p.now, "last_activity_at": p.now}
            if "name" in new:
                values["name_norm"] = normalise_name(new["name"])
            done = db.session.execute(update(Company).where(Company.id == current.id,
                                                            Company.version == current.version)
                                      .values(**values).execution_options(synchronize_session=False)).rowcount
            if done != 1:
                raise _Stop(str(_l("%(name)s was changed by someone else during the import.", name=current.name)))
            if "origin_city" in new:  # the projects' copy of the city (the dashboard's breakdown)
                companies.set_project_cities(current.id, new["origin_city"])
            before = {k: _jsonable(v[0]) for k, v in changes.items()}
            records.append({"object_type": "company", "object_id": current.id, "action": "update",
                            "version": current.version + 1, "before": before})
            audits.append({"action": "update", "actor_id": p.actor.id, "object_type": "company",
                           "object_id": current.id, "label": (new.get("name") or current.name)[:200],
                           "changes": {k: [_jsonable(v[0]), _jsonable(v[1])] for k, v in changes.items()},
                           "at": p.now})
        if audits:
            db.session.execute(AuditEvent.__table__.insert(), audits)


def _held_message(match: dict) -> str:
    reason = {"uscc": _l("the same code"), "name": _l("the same name"), "phone": _l("the same phone")}[match["reason"]]
    if match.get("owner"):
        return str(_l("%(name)s already exists (%(reason)s), held by %(owner)s.", name=match["name"], reason=reason,
                      owner=match["owner"]))
    return str(_l("%(name)s already exists (%(reason)s), in the public pool.", name=match["name"], reason=reason))


# --- contacts and projects: the company of each row ------------------------------------------------------------------

class _CompanyRef:
    """Find each row's company in the book: by its code when given, else by its name key (one must match alone)."""

    def __init__(self, p: _Pass):
        self.p = p
        self.companies: dict[str, list] = {}

    def check(self, o: Outcome) -> None:
        if not o.values.get("company") and not o.values.get("company_uscc") and \
                not any(k in ("company", "company_uscc") for k, _m in o.problems):
            o.problems.append(("company", str(_l("This field is required."))))
        if not o.values.get("name") and not any(k == "name" for k, _m in o.problems):
            o.problems.append(("name", str(_l("This field is required."))))

    def load(self, batch: list[Outcome]) -> None:
        usccs = {o.values["company_uscc"] for o in batch if o.values.get("company_uscc")}
        names = {_name_norm(o.values["company"]) for o in batch
                 if o.values.get("company") and not o.values.get("company_uscc")}
        conds = []
        if usccs:
            conds.append(_one_of(Company.uscc, usccs))
        if names:
            conds.append(_one_of(Company.name_norm, names))
        self.companies = {}
        if not conds:
            return
        stmt = select(Company.id, Company.name, Company.uscc, Company.name_norm, Company.owner_id).where(
            or_(*conds), access.company_scope(self.p.actor)).order_by(Company.id)
        for r in db.session.execute(stmt):
            if r.uscc:
                self.companies.setdefault(("uscc", r.uscc), []).append(r)
            self.companies.setdefault(("name", r.name_norm), []).append(r)

    def resolve(self, o: Outcome):
        v = o.values
        key = ("uscc", v["company_uscc"]) if v.get("company_uscc") else ("name", _name_norm(v.get("company", "")))
        found = self.companies.get(key, [])
        if not found:
            o.problems.append((key[0] == "uscc" and "company_uscc" or "company",
                               str(_l("No such company in the book (or not one you can see): import or create it "
                                      "first."))))
            return None
        if len(found) > 1:
            o.problems.append(("company", str(_l("Several companies have this name: add the code column."))))
            return None
        return found[0]


def _name_key(value: str) -> str:
    return "".join(fold_width(value or "").lower().split())


class _Contacts:
    """Contacts: matched by (company, phone), or (company, name) without a phone (IE-2)."""

    keys = tuple(companies.CONTACT_FIELDS)

    def __init__(self, p: _Pass):
        self.p = p
        self.ref = _CompanyRef(p)
        self.existing: dict = {}
        self.touched: set[int] = set()

    def check(self, o: Outcome) -> None:
        self.ref.check(o)
        v = o.values
        company = ("uscc", v["company_uscc"]) if v.get("company_uscc") else ("name", _name_norm(v.get("company")
                                                                                                   or ""))
        if v.get("mobile"):
            o.file_keys.append(("mobile", (company, v["mobile"]), None))
        elif v.get("name"):
            o.file_keys.append(("name", (company, _name_key(v["name"])), None))

    def lookup(self, batch: list[Outcome]) -> None:
        self.ref.load(batch)
        for o in batch:
            company = self.ref.resolve(o)
            if company is not None:
                o.company_id = company.id
                o.extra_company = company
        ids = {o.company_id for o in batch if o.company_id}
        self.existing = {}
        if ids:
            for c in db.session.execute(select(Contact.__table__).where(_one_of(Contact.company_id, ids),
                                                                        Contact.deleted_at.is_(None))
                                        .order_by(Contact.id)):
                if c.mobile:
                    self.existing.setdefault(("mobile", c.company_id, c.mobile), c)
                self.existing.setdefault(("name", c.company_id, _name_key(c.name)), c)

    def decide(self, o: Outcome) -> None:
        if o.problems:  # found while resolving the company
            o.action, o.options, o.default = "error", ["skip"], None
            return
        company = o.extra_company
        v = o.values
        match = self.existing.get(("mobile", o.company_id, v["mobile"])) if v.get("mobile") else \
            self.existing.get(("name", o.company_id, _name_key(v["name"])))
        editable = access.can_edit_company(self.p.actor, company)
        if match is None:
            if not editable:
                o.action, o.options, o.default = "error", ["skip"], None
                o.problems.append(("company", str(_l("Only the officer who holds this company, or a manager, may "
                                                     "add its contacts."))))
            else:
                o.action = "create"
            return
        o.current = match
        o.match = self.p.match_info(company.id, company.name, company.owner_id, "phone" if v.get("mobile") else
                                    "name", True, editable)
        if not _changes(v, match, self.keys):
            o.action = "unchanged"
            return
        o.action = "update"
        o.options = ["update", "skip"] if editable else ["skip"]
        o.default = "update" if editable else "skip"

    def write(self, batch: list[Outcome]) -> None:
        p = self.p
        creates = [o for o in batch if o.action_effective == "create"]
        updates = [o for o in batch if o.action_effective == "update" and o.current is not None]
        ids = p.allocate_ids(Contact, len(creates))
        rows, records = [], []
        for o, contact_id in zip(creates, ids, strict=True):
            values = {k: o.values.get(k) if o.values.get(k) is not None else rule.empty()
                      for k, rule in companies.CONTACT_FIELDS.items()}
            rows.append({**values, "id": contact_id, "company_id": o.company_id, "version": 1, "created_at": p.now,
                         "updated_at": p.now})
            records.append({"object_type": "contact", "object_id": contact_id, "action": "create", "version": 1})
            self.touched.add(o.company_id)
        if rows:
            bulk_insert(Contact.__table__, rows)
        for o in updates:
            current = o.current
            changes = _changes(o.values, current, self.keys)
            done = db.session.execute(update(Contact).where(Contact.id == current.id,
                                                            Contact.version == current.version)
                                      .values(**{k: v[1] for k, v in changes.items()}, version=current.version + 1,
                                              updated_at=p.now).execution_options(synchronize_session=False)).rowcount
            if done != 1:
                raise _Stop(str(_l("%(name)s was changed by someone else during the import.", name=current.name)))
            records.append({"object_type": "contact", "object_id": current.id, "action": "update",
                            "version": current.version + 1,
                            "before": {k: _jsonable(v[0]) for k, v in changes.items()}})
            self.touched.add(current.company_id)
        p.record(records)
        p.written += len(creates) + len(updates)
        refresh_companies(self.touched)
        self.touched = set()


def refresh_companies(company_ids) -> None:
    """Rebuild the search text of companies whose contacts an import changed, keeping their version (derived data:
    an open edit form of the company stays current, as with companies.services.note_activity)."""
    ids = sorted(company_ids)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        contacts: dict[int, list] = {}
        for c in db.session.execute(select(Contact.company_id, Contact.name, Contact.mobile).where(
                _one_of(Contact.company_id, chunk), Contact.deleted_at.is_(None)).order_by(Contact.id)):
            contacts.setdefault(c.company_id, []).append(c)
        params = []
        for r in db.session.execute(select(Company.id, Company.name, Company.short_name, Company.uscc).where(
                _one_of(Company.id, chunk))):
            shell = SimpleNamespace(name=r.name, short_name=r.short_name, uscc=r.uscc)
            companies.refresh_search_text(shell, contacts.get(r.id, []))
            params.append({"b_id": r.id, "b_text": shell.search_text})
        if params:
            table = Company.__table__
            db.session.execute(table.update().where(table.c.id == bindparam("b_id"))
                               .values(search_text=bindparam("b_text")), params)


# --- projects --------------------------------------------------------------------------------------------------------

_PROJECT_KEYS = tuple(k for k in projects.PROJECT_FIELDS if k != "company_id")


class _Projects:
    """Projects: matched by (company, name); created through projects.services.create_project (stage moves,
    the support board's milestones), updated through the ORM with the service's checks (versioned, audited)."""

    def __init__(self, p: _Pass):
        self.p = p
        self.ref = _CompanyRef(p)
        self.existing: dict = {}
        if p.actor.role == Role.ADMIN.value:
            self.admin = True
        else:
            self.admin = False

    def check(self, o: Outcome) -> None:
        self.ref.check(o)
        v = o.values
        errors: dict = {}
        projects._cross_checks({k: v[k] for k in ("planned_investment", "fixed_asset_investment", "planned_start",
                                                  "planned_production", "confidential", "code_name") if k in v},
                               errors)
        o.problems += [(k, m[0]) for k, m in errors.items()]
        if v.get("stage") and v["stage"] not in cols.STAGE_NAMES:
            o.problems.append(("stage", str(_l("Choose one of the stages: %(keys)s.",
                                               keys="、".join(n for n, _e in cols.STAGE_NAMES.values())))))
        elif v.get("stage") == "lost":
            o.problems.append(("stage", str(_l("A project cannot be imported as lost."))))
        if self.admin:
            o.problems.append(("name", str(_l("Choose the officer responsible for the project."))))
        company = ("uscc", v["company_uscc"]) if v.get("company_uscc") else ("name", _name_norm(v.get("company")
                                                                                                   or ""))
        if v.get("name"):
            o.file_keys.append(("name", (company, _name_key(v["name"])), None))

    def lookup(self, batch: list[Outcome]) -> None:
        self.ref.load(batch)
        for o in batch:
            company = self.ref.resolve(o)
            if company is not None:
                o.company_id = company.id
        ids = {o.company_id for o in batch if o.company_id}
        self.existing = {}
        if ids:
            for project in db.session.scalars(select(Project).where(_one_of(Project.company_id, ids),
                                                                    access.project_scope(self.p.actor))
                                              .order_by(Project.id)):
                self.existing.setdefault((project.company_id, _name_key(project.name)), project)

    def decide(self, o: Outcome) -> None:
        if o.problems:
            o.action, o.options, o.default = "error", ["skip"], None
            return
        match = self.existing.get((o.company_id, _name_key(o.values["name"])))
        if match is None:
            o.action = "create"
            return
        editable = access.can_edit_project(self.p.actor, match)
        o.current = match
        o.match = self.p.match_info(match.id, match.name, match.owner_id, "name", True, editable)
        if not _changes(o.values, match, _PROJECT_KEYS):
            o.action = "unchanged"
            return
        o.action = "update"
        o.options = ["update", "skip"] if editable else ["skip"]
        o.default = "update" if editable else "skip"
        if not editable:
            o.problems.append(("name", str(_l("Only the project's owner, the owner's team or a manager may change "
                                              "it."))))

    def write(self, batch: list[Outcome]) -> None:
        p = self.p
        records = []
        for o in batch:
            if o.action_effective == "create":
                data = {k: _jsonable(o.values[k]) for k in _PROJECT_KEYS if k in o.values}
                data["company_id"] = o.company_id
                try:
                    project = projects.create_project(data, actor=p.actor, stage=o.values.get("stage") or "lead",
                                                      commit=False)
                except (Invalid, Forbidden) as exc:
                    raise _Stop(f"{o.row}: {exc.message}") from None
                records.append({"object_type": "project", "object_id": project.id, "action": "create",
                                "version": project.version})
                p.written += 1
            elif o.action_effective == "update" and o.current is not None:
                project = o.current
                changes = _changes(o.values, project, _PROJECT_KEYS)
                errors: dict = {}
                values = {k: v[1] for k, v in changes.items()}
                projects._check_refs(values, errors, project)
                projects._cross_checks(values, errors, project)
                if errors:
                    raise _Stop(f"{o.row}: {next(iter(errors.values()))[0]}")
                audit.set_actor(p.actor)
                for key, value in values.items():
                    setattr(project, key, value)
                project.last_activity_at = p.now
                db.session.flush()
                records.append({"object_type": "project", "object_id": project.id, "action": "update",
                                "version": project.version,
                                "before": {k: _jsonable(v[0]) for k, v in changes.items()}})
                p.written += 1
        p.record(records)


# --- preview, commit, rollback ---------------------------------------------------------------------------------------

def _previous_choices(run: ImportRun) -> dict[int, str]:
    return dict(db.session.execute(select(ImportRow.row, ImportRow.choice).where(
        ImportRow.import_id == run.id, ImportRow.choice.is_not(None))).all())


def _fail(run: ImportRun, message: str) -> ImportRun:
    run_id = run.id
    db.session.rollback()
    with writing():
        run = db.session.get(ImportRun, run_id, populate_existing=True)
        run.status, run.message = "failed", message[:2000]
        db.session.commit()
    return run


def _in_language(fn):
    """Run a phase in the importer's language: its problems are stored as text, in the words they will read."""
    import functools

    from flask_babel import force_locale

    @functools.wraps(fn)
    def wrapper(import_id: int, *, actor: User | None = None, **kw):
        run = db.session.get(ImportRun, import_id)
        who = actor or (db.session.get(User, run.actor_id) if run else None)
        locale = getattr(who, "locale", None) or current_app.config["BABEL_DEFAULT_LOCALE"]
        with force_locale(locale):
            return fn(import_id, actor=actor, **kw)

    return wrapper


@_in_language
def preview(import_id: int, *, actor: User | None = None, progress: Callable | None = None) -> ImportRun:
    """Read the whole file and record what a commit would do (nothing else is written). Keeps the user's earlier
    choices for rows that are still flagged. Committed; a file that cannot be read marks the import failed."""
    run = db.session.get(ImportRun, import_id)
    if run is None:
        raise NotFound(str(_l("No such import.")))
    actor = actor or db.session.get(User, run.actor_id)
    if run.status in ("committed", "rolled_back"):
        raise Conflict(str(_l("This import was committed already.")))
    missing = missing_columns(run.kind, run.mapping or {})
    if missing:
        raise Invalid(str(_l("Map a column to: %(names)s.", names=", ".join(c.zh for c in missing))), {})
    choices = _previous_choices(run)
    run_id = run.id
    parsed_path(run).unlink(missing_ok=True)  # this pass parses afresh (and keeps its parse for the commit)
    work = _Pass(run, actor, write=False, choices=choices, progress=progress)
    try:
        work.run_pass()
    except ReadError as exc:
        return _fail(run, exc.message)
    # the pass only read: end its transaction, then write the outcome in a short one (on SQLite a read transaction
    # must not turn into a write, and the write lock is held for the writing alone)
    db.session.rollback()
    with writing():
        run = db.session.get(ImportRun, run_id, populate_existing=True)
        db.session.execute(delete(ImportRow).where(ImportRow.import_id == run_id))
        work.save_flagged()
        run.counts, run.digest, run.rows_total = work.counts, work.digest.hexdigest(), work.read
        run.status, run.previewed_at = "previewed", utcnow()
        db.session.commit()
    return run


def start(import_id: int, phase: str, *, actor: User) -> ImportRun:
    """Mark an import as queued for its preview or commit (a compare-and-set on its status, so two clicks start it
    once). A commit is refused while rows with problems remain (IE-1)."""
    run = _own(import_id, actor)
    if phase == "preview":
        allowed, to = ("uploaded", "previewed", "failed"), "previewing"
        missing = missing_columns(run.kind, run.mapping or {})
        if missing:
            raise Invalid(str(_l("Map a column to: %(names)s.", names=", ".join(c.zh for c in missing))), {})
    else:
        allowed, to = ("previewed",), "committing"
        if blocking_errors(run):
            raise Conflict(str(_l("Some rows have problems: fix them in the file and upload it again, or choose to "
                                  "skip them.")))
    done = db.session.execute(update(ImportRun).where(ImportRun.id == run.id, ImportRun.status.in_(allowed))
                              .values(status=to, message="", updated_at=utcnow())
                              .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        db.session.rollback()
        raise Conflict(str(_l("This import is already running or finished.")))
    db.session.commit()
    db.session.refresh(run)
    write_progress(run, phase=phase, read=0, written=0, total=run.rows_total, state="queued")
    return run


def run_phase(import_id: int, phase: str) -> str:
    """What the worker (or the request, for a small file) runs after `start`: the preview or the commit. Safe to run
    again (a redelivered task): a finished import is left alone."""
    run = db.session.get(ImportRun, import_id)
    if run is None:
        return "missing"
    expected = "previewing" if phase == "preview" else "committing"
    if run.status != expected:
        return run.status
    actor = db.session.get(User, run.actor_id)
    name = run.stored_name

    def progress(**values):
        write_progress(SimpleNamespace(stored_name=name), phase=phase, state="running", **values)

    try:
        if phase == "preview":
            run = preview(import_id, actor=actor, progress=progress)
        else:
            run = commit(import_id, actor=actor, progress=progress)
    except Exception:
        db.session.rollback()
        with writing():
            run = db.session.get(ImportRun, import_id, populate_existing=True)
            if run.status == expected:
                run.status = "previewed" if phase == "commit" else "failed"
                run.message = str(_l("The import stopped with an error; nothing was written. Try again."))
            db.session.commit()
        write_progress(SimpleNamespace(stored_name=name), phase=phase, state="error")
        raise
    write_progress(SimpleNamespace(stored_name=name), phase=phase, state="done", read=run.rows_total or 0,
                   written=sum((run.counts or {}).get(k, 0) for k in ("create", "update"))
                   if run.status == "committed" else 0, total=run.rows_total)
    return run.status


@_in_language
def commit(import_id: int, *, actor: User | None = None, progress: Callable | None = None) -> ImportRun:
    """Write every accepted row, or none (IE-1): the whole pass runs again in one transaction, and anything that
    comes out otherwise than in the preview (the book changed meanwhile) rolls it back and previews again.

    Crash-safe (IE-7): nothing is committed before the end, so a worker killed halfway leaves the book as it was and
    the import at "committing", which the redelivered task runs again."""
    run = db.session.get(ImportRun, import_id)
    if run is None:
        raise NotFound(str(_l("No such import.")))
    actor = actor or db.session.get(User, run.actor_id)
    if run.status not in ("committing", "previewed"):
        raise Conflict(str(_l("This import cannot be committed now.")))
    expired = run.previewed_at is None or as_aware(run.previewed_at) < utcnow() - PREVIEW_TTL
    if _file_hash(run) != run.file_hash:
        return _fail(run, str(_l("The stored file changed since it was uploaded: upload it again.")))
    if expired:
        db.session.rollback()
        with writing():
            db.session.get(ImportRun, import_id, populate_existing=True).status = "previewing"
            db.session.commit()
        run = preview(import_id, actor=actor, progress=progress)
        with writing():
            run = db.session.get(ImportRun, import_id, populate_existing=True)
            run.message = str(_l("The preview had expired: here it is again. Check it and commit."))
            db.session.commit()
        return run
    choices = dict(db.session.execute(select(ImportRow.row, func.coalesce(ImportRow.choice, "")).where(
        ImportRow.import_id == run.id)).all())
    preview_digest, run_id = run.digest, run.id
    audit.set_actor(actor)
    kind = run.kind
    db.session.commit()  # the reads above end here: the commit's own transaction starts as a writer
    try:
        with writing():  # SQLite: BEGIN IMMEDIATE from its first statement (a read turned writer could not wait)
            if db.engine.dialect.name == "postgresql":  # one import of a kind at a time (IE-2: overlapping files)
                db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"crm-import-{kind}"})
            run = db.session.get(ImportRun, run_id)
            work = _Pass(run, actor, write=True, choices={r: c for r, c in choices.items() if c}, progress=progress)
            work.run_pass()
        if work.digest.hexdigest() != preview_digest:
            raise _Stop(str(_l("The book changed since the preview: nothing was written. Check the new preview.")))
    except (_Stop, ReadError, IntegrityError) as exc:
        message = exc.message if isinstance(exc, ReadError) else str(exc.args[0]) if isinstance(exc, _Stop) else \
            str(_l("A record of this file was created by someone else meanwhile: nothing was written."))
        db.session.rollback()
        with writing():
            db.session.get(ImportRun, run_id, populate_existing=True).status = "previewing"
            db.session.commit()
        run = preview(run_id, actor=actor, progress=progress)
        with writing():
            run = db.session.get(ImportRun, run_id, populate_existing=True)
            run.message = message
            db.session.commit()
        return run
    run.counts = {**work.counts, "written": work.written}
    run = db.session.get(ImportRun, run_id)
    run.status, run.committed_at, run.message = "committed", work.now, ""  # the time every new row carries
    audit.record("import", actor=actor, obj=run, object_type="import",
                 changes={"kind": [None, run.kind], "rows": [None, work.read], "written": [None, work.written]})
    db.session.commit()
    discard_files(run)
    return run


def _file_hash(run: ImportRun) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(stored_path(run), "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


_MODELS = {"company": Company, "contact": Contact, "project": Project}


def rollback_problems(run: ImportRun, *, limit: int = 5) -> list[str]:
    """Why the import cannot be rolled back: records changed or deleted since, or others' records hanging on them."""
    problems = []
    for object_type, model in _MODELS.items():
        table = model.__table__
        recorded = ImportRecord.__table__
        stmt = select(table.c.id).select_from(
            recorded.outerjoin(table, table.c.id == recorded.c.object_id)).where(
            recorded.c.import_id == run.id, recorded.c.object_type == object_type,
            or_(table.c.id.is_(None), table.c.version != recorded.c.version, table.c.deleted_at.is_not(None)))
        for r in db.session.execute(stmt.limit(limit)):
            problems.append(str(_l("A %(kind)s of this import was changed or deleted since (id %(id)s).",
                                   kind=object_type, id=r.id)))
    created = select(ImportRecord.object_id).where(ImportRecord.import_id == run.id,
                                                   ImportRecord.object_type == "company",
                                                   ImportRecord.action == "create")
    ours = select(ImportRecord.object_id).where(ImportRecord.import_id == run.id, ImportRecord.object_type == "contact")
    # a new company's first contact is not listed: it was created at the commit's time and is still at version 1
    first_contact = and_(Contact.created_at == run.committed_at, Contact.version == 1, Contact.deleted_at.is_(None))
    from crm.meetings.models import Meeting, Task

    hanging = [
        (Contact, and_(Contact.company_id.in_(created), Contact.id.not_in(ours), ~first_contact)),
        (Project, Project.company_id.in_(created)),
        (Meeting, Meeting.company_id.in_(created)),
        (Task, Task.company_id.in_(created)),
    ]
    if run.kind == "projects":
        created_projects = select(ImportRecord.object_id).where(
            ImportRecord.import_id == run.id, ImportRecord.object_type == "project", ImportRecord.action == "create")
        hanging += [(Meeting, Meeting.project_id.in_(created_projects)), (Task, Task.project_id.in_(created_projects))]
    for model, cond in hanging:
        if db.session.scalar(select(model.id).where(cond).limit(1)) is not None:
            problems.append(str(_l("Records added since depend on what this import created (%(kind)s).",
                                   kind=model.__tablename__)))
    return problems[:limit]


def rollback(import_id: int, *, actor: User) -> ImportRun:
    """Undo a committed import while none of its records changed since: delete what it created, restore what it
    updated (each record checked at the version the commit left). All or nothing; audited."""
    run = visible_import(import_id, actor)
    if run.actor_id != actor.id and not access.is_manager(actor):
        raise Forbidden(str(_l("Only the officer who made the import, or a manager, may roll it back.")))
    audit.set_actor(actor)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(ImportRun.id).where(ImportRun.id == run.id).with_for_update())
    db.session.refresh(run)
    if run.status != "committed":
        raise Conflict(str(_l("Only a committed import can be rolled back.")))
    problems = rollback_problems(run)
    if problems:
        raise Conflict(str(_l("This import cannot be rolled back: %(why)s", why=" ".join(problems))))
    now = utcnow()
    # updates first: restore the previous values, guarded on the version the commit left
    for object_type, model in _MODELS.items():
        records = db.session.execute(select(ImportRecord).where(
            ImportRecord.import_id == run.id, ImportRecord.object_type == object_type,
            ImportRecord.action == "update")).scalars().all()
        for rec in records:
            values = _restore_values(model, rec.before or {})
            if object_type == "company" and "name" in values:
                values["name_norm"] = normalise_name(values["name"])
            done = db.session.execute(update(model).where(model.id == rec.object_id, model.version == rec.version)
                                      .values(**values, version=rec.version + 1, updated_at=now)
                                      .execution_options(synchronize_session=False)).rowcount
            if done != 1:
                db.session.rollback()
                raise Conflict(str(_l("This import cannot be rolled back: a record changed meanwhile.")))
            if object_type == "company" and "origin_city" in values:
                companies.set_project_cities(rec.object_id, values["origin_city"])
    # then the records it created: children before their companies
    touched = set()
    for object_type in ("project", "contact", "company"):
        model = _MODELS[object_type]
        ids = list(db.session.scalars(select(ImportRecord.object_id).where(
            ImportRecord.import_id == run.id, ImportRecord.object_type == object_type,
            ImportRecord.action == "create")))
        for start_at in range(0, len(ids), BATCH):
            chunk = ids[start_at:start_at + BATCH]
            if object_type == "project":
                _delete_projects(chunk)
                continue
            if object_type == "contact":
                touched |= set(db.session.scalars(select(Contact.company_id).where(Contact.id.in_(chunk))))
            if object_type == "company":  # their first contacts, created with them
                db.session.execute(delete(Contact).where(Contact.company_id.in_(chunk))
                                   .execution_options(synchronize_session=False))
            db.session.execute(delete(model).where(model.id.in_(chunk)).execution_options(synchronize_session=False))
    touched -= set(db.session.scalars(select(ImportRecord.object_id).where(
        ImportRecord.import_id == run.id, ImportRecord.object_type == "company", ImportRecord.action == "create")))
    if touched or run.kind in ("companies", "contacts"):
        updated_companies = set(db.session.scalars(select(ImportRecord.object_id).where(
            ImportRecord.import_id == run.id, ImportRecord.object_type == "company",
            ImportRecord.action == "update")))
        refresh_companies(touched | updated_companies)
    run.status, run.rolled_back_at, run.rolled_back_by_id = "rolled_back", now, actor.id
    audit.record("import_rollback", actor=actor, obj=run, object_type="import")
    db.session.commit()
    discard_files(run, progress=True)
    return run


def _restore_values(model, before: dict) -> dict:
    out = {}
    columns = model.__table__.c
    for key, value in before.items():
        if key not in columns:
            continue
        column_type = columns[key].type.python_type if hasattr(columns[key].type, "python_type") else None
        if value is not None and column_type is Decimal:
            value = Decimal(value)
        elif value is not None and column_type is date:
            value = date.fromisoformat(value)
        out[key] = value
    return out


def _delete_projects(ids: list[int]) -> None:
    """A created project goes with what its creation made: its stage moves, funds entries and board milestones."""
    from crm.projects.models import FundsEntry, StageMove
    from crm.support.models import EnterpriseRequest, Milestone, RequestEvent

    for model, column in ((RequestEvent, RequestEvent.project_id), (EnterpriseRequest, EnterpriseRequest.project_id),
                          (Milestone, Milestone.project_id), (FundsEntry, FundsEntry.project_id),
                          (StageMove, StageMove.project_id)):
        db.session.execute(delete(model).where(column.in_(ids)).execution_options(synchronize_session=False))
    db.session.execute(delete(Project).where(Project.id.in_(ids)).execution_options(synchronize_session=False))


def sniff_upload(head: bytes, filename: str) -> None:
    """The upload form's early check (magic bytes against the name), before anything is stored."""
    try:
        sniff(head, filename)
    except ReadError as exc:
        raise Invalid(exc.message, {"file": [exc.message]}) from None


def launch(import_id: int, phase: str) -> str:
    """Run a started phase: within the request for a small file (the page shows the result at once), else in the
    worker (the page polls its progress; closing the tab changes nothing). The task is queued after the commit that
    started it, on a thread, so a request never waits on the broker (R4); if queuing fails the page offers to
    start it again."""
    run = db.session.get(ImportRun, import_id)
    celery_app = current_app.extensions["celery"]
    small = (run.rows_total or 0) <= INLINE_ROWS and run.size <= 512 * 1024
    if small or celery_app.conf.task_always_eager:
        try:
            return run_phase(import_id, phase)
        except Exception:  # run_phase recorded it on the import (nothing written); the page says so
            logger.exception("import %s (%s) failed", import_id, phase)
            db.session.rollback()
            return "error"
    import threading

    def publish():
        try:
            celery_app.send_task("imports.run", args=[import_id, phase], retry=False)
        except Exception:
            logger.warning("could not queue import %s (%s)", import_id, phase, exc_info=True)

    threading.Thread(target=publish, name=f"queue-import-{import_id}", daemon=True).start()
    return "queued"
