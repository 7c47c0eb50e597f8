-- Durable per-account notification streams (SPEC.md §8). The head row is bumped in the
-- same transaction as the row it numbers, so seq is strictly increasing per account and
-- (the head row being locked until commit) visible in commit order.

CREATE TABLE notification_heads (
    account_id     BLOB PRIMARY KEY NOT NULL REFERENCES accounts (id),
    seq            BIGINT NOT NULL,
    -- every seq up to this one has been pruned by retention
    pruned_through BIGINT NOT NULL
);

CREATE TABLE notifications (
    account_id BLOB NOT NULL REFERENCES accounts (id),
    seq        BIGINT NOT NULL,
    type       TEXT NOT NULL,
    -- JSON text
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX notifications_created ON notifications (created_at);
