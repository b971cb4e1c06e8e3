-- `_local` documents get an owner (nuage-docs local.rs). A caller who may
-- not write the whole doctype (a read-only replicator, a token limited to
-- some documents) keeps its `_local` documents apart from the owner's and
-- everyone else's: `creator` names the credential that wrote them, and is
-- part of the key, so such a caller can neither read, overwrite nor delete
-- the owner's replication checkpoint, nor learn that one exists (its own
-- `_local/x` is another document). The owner's are those of creator ''.
--
-- The primary key changes, which neither engine does in place portably:
-- the table is rebuilt. It holds replication checkpoints only (at most
-- 10,000 per doctype), so the copy is small. Portable SQL, as 0001.

CREATE TABLE local_docs_v6 (
    instance_id TEXT NOT NULL,
    doctype TEXT /*BINARY*/ NOT NULL,
    creator TEXT NOT NULL,
    id TEXT NOT NULL,
    rev TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (instance_id, doctype, creator, id),
    FOREIGN KEY (instance_id, doctype) REFERENCES doctypes(instance_id, doctype) ON DELETE CASCADE
);

INSERT INTO local_docs_v6 (instance_id, doctype, creator, id, rev, body)
    SELECT instance_id, doctype, '', id, rev, body FROM local_docs;

DROP TABLE local_docs;

ALTER TABLE local_docs_v6 RENAME TO local_docs;
