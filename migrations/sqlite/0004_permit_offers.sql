-- Roles and permits (SPEC.md §5) and permit offers (§6).

-- At most one unrevoked permit per (actor, role, scope); a new grant closes the old one
-- first ("replaced"). Expiry is computed at read time, so it is not part of the rule.
CREATE UNIQUE INDEX permits_one_unrevoked ON permits (actor_id, role, COALESCE(scope_id, ''))
    WHERE revoked_at IS NULL;
CREATE INDEX permits_account ON permits (account_id);

CREATE TABLE permit_offers (
    id                BLOB PRIMARY KEY NOT NULL,
    from_account_id   BLOB NOT NULL REFERENCES accounts (id),
    from_actor_id     BLOB NOT NULL REFERENCES actors (id),
    to_account_id     BLOB NOT NULL REFERENCES accounts (id),
    role              TEXT NOT NULL,
    scope_id          TEXT,
    message           TEXT,
    -- pending | accepted | declined | retracted | expired | superseded
    status            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    resolved_at       TEXT,
    decline_reason    TEXT,
    permit_id         BLOB REFERENCES permits (id),
    superseded_reason TEXT,
    -- what ended it when superseded: the accepted sibling offer or the revoked permit
    cause_id          BLOB
);
-- One pending offer per (recipient, role, scope, grantor): repeating it renews that one.
CREATE UNIQUE INDEX permit_offers_one_pending
    ON permit_offers (to_account_id, role, COALESCE(scope_id, ''), from_account_id) WHERE status = 'pending';
CREATE INDEX permit_offers_to ON permit_offers (to_account_id, id);
CREATE INDEX permit_offers_from ON permit_offers (from_account_id, id);
CREATE INDEX permit_offers_pending_expiry ON permit_offers (expires_at) WHERE status = 'pending';
