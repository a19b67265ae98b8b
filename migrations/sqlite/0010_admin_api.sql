-- Bearer tokens of the admin API. Only a token's SHA-256 is kept, never the token. A revoked
-- token keeps its row, for the record; a name is unique among the tokens not revoked.
CREATE TABLE admin_tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    read_only     INTEGER NOT NULL CHECK (read_only IN (0, 1)),
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
);
CREATE UNIQUE INDEX admin_tokens_active_name ON admin_tokens (name) WHERE revoked_at IS NULL;

-- Every change made through the admin API: who (the token's name), what and when, written in
-- the same transaction as the change.
CREATE TABLE admin_changes (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    token_name  TEXT NOT NULL,
    -- The token itself: a name may be given again once its token is revoked.
    token_id    INTEGER REFERENCES admin_tokens (id),
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
