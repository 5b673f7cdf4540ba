-- Proposed for issue 3 (bench/README.md, "Projects: what is over and what would fix it"): the board's and the
-- list's project indexes made covering. The visibility columns every query carries (deleted_at, confidential,
-- owner_id), the board's filters (cluster, park) and the summed amount ride in the index, so the column totals,
-- a column's "show more", the totals a stage move returns and the list's OFFSET pages read no table rows.
-- Try:  python bench/run.py --reuse --sql bench/try_project_indexes.sql
--       python bench/run.py --db postgres --sql bench/try_project_indexes.sql
DROP INDEX ix_project_board;
CREATE INDEX ix_project_board ON project (stage, key_project, stage_changed_at, id, deleted_at, confidential, owner_id, cluster, park, planned_investment);
DROP INDEX ix_project_list_updated;
CREATE INDEX ix_project_list_updated ON project (updated_at, id, deleted_at, confidential, owner_id);
