-- Every revision row counts against the quota, history included (nuage-store
-- docs/usage.rs): a replicated document brings up to `_revs_limit` rows
-- whose bodies were never sent, and until now only bodies were counted.
-- A row's share is `row_bytes` there: 64 bytes, its document id, and its
-- rev id twice (its own, and as the parent its child names), in bytes.
-- `revs.size` keeps meaning the body's share alone, so no row is rewritten:
-- each doctype's total grows by the share of the rows it holds, one pass
-- over the revs primary key, and the law of usage.rs holds from here on.
-- A doctype being deleted keeps its total of 0 while its rows are purged.
-- Portable SQL, as 0001 (OCTET_LENGTH: SQLite 3.43 and PostgreSQL alike).

UPDATE doctypes SET bytes = bytes + COALESCE((
    SELECT SUM(64 + OCTET_LENGTH(r.doc_id) + 2 * OCTET_LENGTH(r.rev))
    FROM revs r
    WHERE r.instance_id = doctypes.instance_id AND r.doctype = doctypes.doctype
), 0)
WHERE removal_requested_at IS NULL;
