-- Facts about this installation, as key/value pairs (schema origin, bootstrap state).
CREATE TABLE countersign_meta (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO countersign_meta (key, value, updated_at)
VALUES ('installed_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
