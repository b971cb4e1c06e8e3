-- Foundation: instances and every kind of credential.
-- Portable SQL for SQLite and PostgreSQL: TEXT, BIGINT; times are epoch ms;
-- flags are BIGINT 0/1. Every table but `instances` starts with instance_id.

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    quota_bytes BIGINT,
    passphrase_hash TEXT,
    onboarding_hash TEXT,
    onboarding_expires_at BIGINT,
    totp_secret TEXT,
    totp_enabled BIGINT NOT NULL DEFAULT 0,
    totp_last_step BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    user_agent TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (instance_id, id)
);
CREATE UNIQUE INDEX sessions_by_token ON sessions (instance_id, token_hash);

CREATE TABLE recovery_codes (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (instance_id, code_hash)
);

CREATE TABLE login_throttle (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    client_key TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, client_key)
);

CREATE TABLE oauth_clients (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    client_secret_hash TEXT,
    registration_token_hash TEXT NOT NULL,
    client_name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (instance_id, client_id)
);

CREATE TABLE oauth_codes (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, code_hash)
);

-- Bearer tokens: OAuth access and refresh tokens, command-line tokens.
-- `family` ties a chain of rotated refresh tokens (and their access tokens)
-- together so that replaying a used refresh token revokes the whole chain.
CREATE TABLE tokens (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    client_id TEXT,
    family TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (instance_id, token_hash)
);
CREATE INDEX tokens_by_family ON tokens (instance_id, family);
CREATE INDEX tokens_by_client ON tokens (instance_id, client_id);

CREATE TABLE app_passwords (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (instance_id, id)
);
CREATE UNIQUE INDEX app_passwords_by_secret ON app_passwords (instance_id, secret_hash);
