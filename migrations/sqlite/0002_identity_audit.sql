-- Identity (SPEC.md §4), permits (§5, the rows the identity checks read) and the
-- hash-chained audit log (§9). Ids are UUIDs (BLOB here, UUID in PostgreSQL); times are
-- RFC 3339 UTC text here, TIMESTAMPTZ there.

CREATE TABLE accounts (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL,
    -- lowercased username: uniqueness is case-insensitive
    username_key  TEXT NOT NULL UNIQUE,
    email         TEXT,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT
);

CREATE TABLE actors (
    id         BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX actors_account ON actors (account_id);

CREATE TABLE sessions (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB NOT NULL REFERENCES accounts (id),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB NOT NULL REFERENCES accounts (id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    -- JSON array of method names the token may call; NULL = every method
    methods      TEXT,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    expires_at   TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);

CREATE TABLE permits (
    id              BLOB PRIMARY KEY NOT NULL,
    actor_id        BLOB NOT NULL REFERENCES actors (id),
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    role            TEXT NOT NULL,
    scope_id        TEXT,
    granted_by      BLOB,
    source_offer_id BLOB,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT,
    revoked_by      BLOB,
    revoked_reason  TEXT
);
CREATE INDEX permits_actor ON permits (actor_id);

CREATE TABLE audit_log (
    seq               BIGINT PRIMARY KEY NOT NULL,
    id                BLOB NOT NULL UNIQUE,
    event_type        TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    account_id        BLOB,
    actor_id          BLOB,
    target_account_id BLOB,
    scope_id          TEXT,
    subject_id        TEXT,
    ip                TEXT,
    request_id        BLOB NOT NULL,
    -- canonical JSON text, exactly as hashed
    data              TEXT NOT NULL,
    -- RFC 3339 text with microseconds, exactly as hashed
    created_at        TEXT NOT NULL,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL
);
CREATE INDEX audit_log_event ON audit_log (event_type, seq);
CREATE INDEX audit_log_account ON audit_log (account_id, seq);

-- The chain's head: one row, locked by every audit writer so the chain stays linear.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
