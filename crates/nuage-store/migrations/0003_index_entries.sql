-- Indexes are data, not schema (DESIGN §3). Mango json indexes (and, later,
-- views, the file tree's lookups and calendar ranges) are rows of shared
-- tables, written in the same transaction as the document they index, so a
-- write costs the same whether the server holds one instance or 10,000, and
-- no request ever runs DDL.
--
--   doc_indexes    the indexes a doctype maintains, derived from its query
--                  design documents: one row per distinct definition, with
--                  the state of its background build
--   index_entries  one row per (index, document): the key encoded so that
--                  byte order is CouchDB's view collation (nuage-mango keys.rs)
--
-- `/*BYTES*/BLOB` is BYTEA on PostgreSQL: both compare bytewise (memcmp).

CREATE TABLE doc_indexes (
    instance_id TEXT NOT NULL,
    doctype TEXT /*BINARY*/ NOT NULL,
    index_id TEXT NOT NULL,
    def TEXT NOT NULL,
    -- While building: entries exist for every live document whose seq is
    -- <= build_cursor; documents with seq > build_until are indexed by their
    -- writers. NULL once built.
    build_until BIGINT,
    build_cursor BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, doctype, index_id)
);
CREATE INDEX doc_indexes_building ON doc_indexes (build_until);

CREATE TABLE index_entries (
    instance_id TEXT NOT NULL,
    doctype TEXT /*BINARY*/ NOT NULL,
    index_id TEXT NOT NULL,
    key /*BYTES*/BLOB NOT NULL,
    doc_id TEXT /*BINARY*/ NOT NULL,
    value TEXT,
    PRIMARY KEY (instance_id, doctype, index_id, key, doc_id)
);
CREATE INDEX index_entries_by_doc ON index_entries (instance_id, doctype, doc_id);

-- How many indexes a doctype maintains: a write reads it with the doctype
-- row it locks anyway, so a doctype without indexes pays nothing more.
ALTER TABLE doctypes ADD COLUMN index_count BIGINT NOT NULL DEFAULT 0;

-- Storage used, for quotas: each revision's size (its body and the
-- attachments it lists; 0 once its body is pruned) and each doctype's total
-- (revisions with a body, plus its _local documents), kept by the writes.
ALTER TABLE revs ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE revs SET size = LENGTH(body) WHERE body IS NOT NULL;
ALTER TABLE doctypes ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
UPDATE doctypes SET bytes =
    COALESCE((SELECT SUM(r.size) FROM revs r
              WHERE r.instance_id = doctypes.instance_id AND r.doctype = doctypes.doctype), 0)
  + COALESCE((SELECT SUM(LENGTH(l.body)) FROM local_docs l
              WHERE l.instance_id = doctypes.instance_id AND l.doctype = doctypes.doctype), 0);
