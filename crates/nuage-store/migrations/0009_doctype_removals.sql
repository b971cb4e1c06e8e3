-- Doctypes being deleted (nuage-store docs/removal.rs). `DELETE
-- /data/{doctype}` begins with one short transaction that sets
-- `removal_requested_at` on the doctype's row: from then on every write to
-- it is refused (the write reads this row first anyway, and on PostgreSQL
-- locks it, so no write can slip past the flag) and every lookup treats it
-- as missing. Its documents are then purged a chunk at a time, and the row
-- goes last: a deletion interrupted anywhere is found here and finished.
--
-- A column rather than a table of its own: the flag is read, and on
-- PostgreSQL re-read under the row lock, by the statement that locks the
-- row for every write, at no extra cost; and it goes with the row, so
-- nothing can outlive the doctype. The partial index holds only doctypes
-- being deleted: empty almost always, whatever the number of instances.
-- Portable SQL, as 0001 (SQLite and PostgreSQL both take partial indexes).

ALTER TABLE doctypes ADD COLUMN removal_requested_at BIGINT;
CREATE INDEX doctypes_being_removed ON doctypes (removal_requested_at)
    WHERE removal_requested_at IS NOT NULL;
