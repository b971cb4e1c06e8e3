-- PostgreSQL checks a foreign key with a query per row: on a replicated
-- batch of 100 documents, 200 lookups of the same doctype row, 8-15 % of
-- the batch's server time (bench/README.md, PostgreSQL push). Every write
-- locks its doctype row first (docs/doctypes.rs `lock_doctype_on`), so a
-- `docs` or `revs` row never lacks its doctype; what the cascade did at
-- the end of a doctype's or an instance's removal, those removals now do
-- themselves (docs/removal.rs, removals.rs). SQLite's checks are in-process
-- and cheap, and dropping them there would rebuild both tables: they stay.
/*POSTGRES
ALTER TABLE docs DROP CONSTRAINT IF EXISTS docs_instance_id_doctype_fkey;
ALTER TABLE revs DROP CONSTRAINT IF EXISTS revs_instance_id_doctype_fkey;
POSTGRES*/
SELECT 1;
