-- What a deleted document's last live revision held that a permission's
-- selector can match (nuage-core `deletion_projection`): set on the `docs`
-- row when its winner becomes a deletion, kept while it stays deleted,
-- NULL while it is live. A tombstone's own body is empty, so without it a
-- credential limited by a selector (`io.nuage.files:GET:dir1:dir_id`)
-- could neither see nor make the deletion of a document it could read.
--
-- Short single-word strings, numbers and the document's shape only: a
-- small fraction of the body the deletion freed, one row per deleted
-- document, whatever the number of instances. Portable SQL, as 0001.

ALTER TABLE docs ADD COLUMN gone_fields TEXT;
