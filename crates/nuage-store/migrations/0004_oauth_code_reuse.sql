-- Authorization codes already exchanged (RFC 6749 §4.1.2: a code used more
-- than once MUST be refused, and the tokens it gave SHOULD be revoked).
-- A code's row in oauth_codes becomes a row here in the transaction that
-- exchanges it, naming the token `family` the exchange began; a second use
-- finds it and revokes that family (its refresh chain and access tokens).
--
-- Kept only while the code would have been valid (`expires_at` is the
-- code's own, 5 minutes after it was granted), then purged: the table holds
-- at most the codes of the last few minutes, whatever the number of
-- instances. Portable SQL, as 0001.

CREATE TABLE oauth_used_codes (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    family TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, code_hash)
);
