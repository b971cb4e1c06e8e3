-- Instances that may hold blobs no revision references any more
-- (nuage-store blob_sweeps.rs): a write that drops the body of a revision
-- listing attachments (an update prunes its parent, a deletion, a doctype
-- deleted) notes its instance here, in its own transaction; the blob
-- collector sweeps the noted instances and forgets them.
--
-- One row per instance with garbage to look at, none otherwise. No foreign
-- key: an instance's removal purges it with the instance's documents.
-- Portable SQL, as 0001.

CREATE TABLE blob_sweeps (
    instance_id TEXT PRIMARY KEY,
    noted_at BIGINT NOT NULL
);
