"""The trigram index behind company search, one per database engine.

Search matches a substring of `company.search_text` (names, pinyin, initials, USCC, contacts, phone digits). A plain
`LIKE '%q%'` reads every row; a trigram index answers any substring of 3+ characters from the index instead:
- SQLite: an FTS5 table with the trigram tokenizer, kept in step with `company` by triggers;
- PostgreSQL: a pg_trgm GIN index on the column itself, which `LIKE` uses directly.
Shorter terms (a 2-character Chinese word) still scan, but the list stops at its first page and its count is capped.

Both are created whenever the `company` table is (create_all in tests) and by a migration. Note for future SQLite
migrations: a batch ALTER of `company` re-creates the table and drops its triggers, so such a migration must call
`install(op.get_bind())` again at its end.
"""
from sqlalchemy import column, event, table

#: the FTS5 table, as a lightweight table for queries (SQLite only)
fts = table("company_search", column("rowid"), column("search_text"))

#: database objects made here, which Alembic's comparison with the models must ignore
OBJECT_NAMES = {"company_search", "ix_company_search_trgm"}

_SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS company_search USING fts5("
    "search_text, content='company', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS company_search_ai AFTER INSERT ON company BEGIN "
    "INSERT INTO company_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS company_search_ad AFTER DELETE ON company BEGIN "
    "INSERT INTO company_search(company_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS company_search_au AFTER UPDATE OF search_text ON company BEGIN "
    "INSERT INTO company_search(company_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO company_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    # index whatever rows the table already holds (a migration on a filled database)
    "INSERT INTO company_search(company_search) VALUES ('rebuild')",
]
_POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_company_search_trgm ON company USING gin (search_text gin_trgm_ops)",
]


def install(bind) -> None:
    """Create the engine's trigram index for company search (idempotent)."""
    statements = {"sqlite": _SQLITE, "postgresql": _POSTGRES}.get(bind.dialect.name, [])
    for statement in statements:
        bind.exec_driver_sql(statement)


def uninstall(bind) -> None:
    if bind.dialect.name == "sqlite":
        for name in ("company_search_ai", "company_search_ad", "company_search_au"):
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        bind.exec_driver_sql("DROP TABLE IF EXISTS company_search")
    elif bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_company_search_trgm")


def uses_fts(bind) -> bool:
    return bind.dialect.name == "sqlite"


def attach(company_table) -> None:
    """Create and drop the index together with the table (create_all, drop_all)."""
    event.listen(company_table, "after_create", lambda target, connection, **kw: install(connection))
    event.listen(company_table, "before_drop", lambda target, connection, **kw: uninstall(connection))


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: the search index objects (and FTS5's shadow tables) are not in the models."""
    return not (name and (name in OBJECT_NAMES or name.startswith("company_search_")))
