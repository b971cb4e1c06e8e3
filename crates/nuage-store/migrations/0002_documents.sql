-- Documents: the current revision of each document, per instance and
-- doctype. The revision tree and changes feed come with the CouchDB API.
CREATE TABLE documents (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    doctype TEXT NOT NULL,
    id TEXT NOT NULL,
    rev TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, doctype, id)
);
