-- Gated action requests (docs/protocol.md §7): policies per (scope, kind), requests and
-- their decisions.

-- A policy set at a scope; scopes below inherit it unless they set their own.
CREATE TABLE policies (
    scope_id   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    -- the whole policy as JSON
    policy     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by BLOB REFERENCES accounts (id),
    PRIMARY KEY (scope_id, kind)
);

CREATE TABLE requests (
    id                       BLOB PRIMARY KEY NOT NULL,
    kind                     TEXT NOT NULL,
    scope_id                 TEXT NOT NULL,
    title                    TEXT NOT NULL,
    -- decimal strings, never floats
    amount                   TEXT,
    currency                 TEXT,
    percentage               TEXT,
    payload                  TEXT NOT NULL,
    -- awaiting_confirmation | pending_approval | approved | executing | executed | failed
    -- | cancelled | expired | rejected | revoked
    status                   TEXT NOT NULL,
    requested_by             BLOB NOT NULL REFERENCES accounts (id),
    created_at               TEXT NOT NULL,
    expires_at               TEXT NOT NULL,
    -- the policy in force when the request was made (JSON): it is judged by that one
    policy                   TEXT NOT NULL,
    confirmed_at             TEXT,
    confirmed_by             BLOB REFERENCES accounts (id),
    bypassed_by              BLOB REFERENCES accounts (id),
    executed_by              BLOB REFERENCES accounts (id),
    executed_at              TEXT,
    pre_approval_skip_reason TEXT,
    cancel_until             TEXT,
    execution_attempts       INTEGER,
    execution_last_error     TEXT,
    execution_response       TEXT,
    cancelled_by             BLOB REFERENCES accounts (id),
    cancelled_at             TEXT,
    cancel_reason            TEXT,
    idempotency_key          TEXT,
    -- sha-256 of the create params: the same key with other params is refused
    params_hash              TEXT
);
-- One request per (requester, idempotency key); requests without a key never collide.
CREATE UNIQUE INDEX requests_one_per_key ON requests (requested_by, idempotency_key);
CREATE INDEX requests_window ON requests (kind, created_at);
CREATE INDEX requests_requested_by ON requests (requested_by, id);
CREATE INDEX requests_pending_expiry ON requests (expires_at)
    WHERE status IN ('awaiting_confirmation', 'pending_approval');

-- Who may approve a request: the holders of some roles, now (read on every request that
-- waits for approval).
CREATE INDEX permits_role_active ON permits (role) WHERE revoked_at IS NULL;

-- One decision per voter: a later vote replaces the earlier one.
CREATE TABLE request_decisions (
    request_id BLOB NOT NULL REFERENCES requests (id),
    account_id BLOB NOT NULL REFERENCES accounts (id),
    -- approve | reject
    decision   TEXT NOT NULL,
    comment    TEXT,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (request_id, account_id)
);
CREATE INDEX request_decisions_account ON request_decisions (account_id);
