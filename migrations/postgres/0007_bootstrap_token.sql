-- The pending one-time bootstrap token (docs/protocol.md §4.1): at most one row. It is
-- issued once per database, not once per start: an instance that finds an unexpired one
-- leaves it alone and says where its minter wrote it (`file`). The hash replaces the
-- `bootstrap_token_hash` key of countersign_meta; a token pending there is dropped, and
-- the next start issues a new one.
CREATE TABLE bootstrap_token (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    token_hash  TEXT NOT NULL,
    file        TEXT NOT NULL,
    issued_at   TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
DELETE FROM countersign_meta WHERE key = 'bootstrap_token_hash';
