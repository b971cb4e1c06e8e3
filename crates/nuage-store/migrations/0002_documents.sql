-- Documents with CouchDB semantics. Per instance and doctype:
--   doctypes   the update sequence and counters of each doctype
--   docs       one row per document: its winning revision, its body (a copy
--              of the winner's), and the sequence of its last change; the
--              changes feed is this table ordered by seq
--   revs       the revision tree: every known revision, its parent, and its
--              body while it is a leaf (non-leaf bodies are pruned)
--   local_docs _local/ documents: not replicated, no history
--
-- `/*BINARY*/` marks text compared by code point (CouchDB's raw collation of
-- ids): the migration runner writes COLLATE "C" there on PostgreSQL, whose
-- default collation follows the locale; SQLite compares bytes already.

CREATE TABLE doctypes (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    doctype TEXT /*BINARY*/ NOT NULL,
    update_seq BIGINT NOT NULL DEFAULT 0,
    doc_count BIGINT NOT NULL DEFAULT 0,
    doc_del_count BIGINT NOT NULL DEFAULT 0,
    revs_limit BIGINT NOT NULL DEFAULT 1000,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, doctype)
);

CREATE TABLE docs (
    instance_id TEXT NOT NULL,
    doctype TEXT /*BINARY*/ NOT NULL,
    id TEXT /*BINARY*/ NOT NULL,
    rev TEXT NOT NULL,
    deleted BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (instance_id, doctype, id),
    FOREIGN KEY (instance_id, doctype) REFERENCES doctypes(instance_id, doctype) ON DELETE CASCADE
);
CREATE UNIQUE INDEX docs_by_seq ON docs (instance_id, doctype, seq);

CREATE TABLE revs (
    instance_id TEXT NOT NULL,
    doctype TEXT /*BINARY*/ NOT NULL,
    doc_id TEXT NOT NULL,
    rev TEXT NOT NULL,
    pos BIGINT NOT NULL,
    parent TEXT,
    deleted BIGINT NOT NULL,
    body TEXT,
    PRIMARY KEY (instance_id, doctype, doc_id, rev),
    FOREIGN KEY (instance_id, doctype) REFERENCES doctypes(instance_id, doctype) ON DELETE CASCADE
);

CREATE TABLE local_docs (
    instance_id TEXT NOT NULL,
    doctype TEXT /*BINARY*/ NOT NULL,
    id TEXT NOT NULL,
    rev TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (instance_id, doctype, id),
    FOREIGN KEY (instance_id, doctype) REFERENCES doctypes(instance_id, doctype) ON DELETE CASCADE
);
