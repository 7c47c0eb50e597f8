-- Facts about this installation, as key/value pairs (schema origin, bootstrap state).
CREATE TABLE countersign_meta (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
INSERT INTO countersign_meta (key, value, updated_at)
VALUES ('installed_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), now());
