-- What-if (not in the app): make SQLite's planner use ix_company_list_updated.
-- 1. The soft-delete index only on deleted rows (all the trash page needs). As a full index, "deleted_at IS NULL"
--    looks like a selective equality to SQLite, which then reads 99.5 % of the table through it and sorts.
DROP INDEX ix_company_deleted_at;
CREATE INDEX ix_company_deleted_at ON company (deleted_at) WHERE deleted_at IS NOT NULL;
-- 2. Statistics. Without sqlite_stat1 SQLite guesses, and with the index above alone it picks a worse plan
--    (a MULTI-INDEX OR over owner_id). The app never runs ANALYZE; it would need `PRAGMA optimize` (or ANALYZE)
--    after migrations/bulk imports and periodically.
ANALYZE;
