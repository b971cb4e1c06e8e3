-- Instance removals under way (nuage-store removals.rs). Removing an
-- instance begins with one short transaction that records it here, deletes
-- its credentials and hides its `instances` row: the row's domain becomes
-- `removed/ID`, which is no domain, so the real one may be created again at
-- once. Its documents are then purged a chunk at a time, then its
-- `instances` row, then its blobs, and this row goes last: a removal
-- interrupted anywhere is found here and finished.
--
-- The `instances` row outlives the purge because doctypes (and through them
-- docs, revs and local_docs) reference it ON DELETE CASCADE: deleting it
-- first would delete every document in one transaction.
--
-- No foreign key: the row outlives the instance. It holds only removals in
-- progress, so the table is empty almost always, whatever the number of
-- instances. Portable SQL, as 0001.

CREATE TABLE instance_removals (
    instance_id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    requested_at BIGINT NOT NULL
);
