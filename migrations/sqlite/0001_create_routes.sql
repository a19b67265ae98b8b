-- The routing table: one row per login name that Switchboard accepts.
CREATE TABLE routes (
    login          TEXT PRIMARY KEY NOT NULL,
    upstream_host  TEXT NOT NULL,
    upstream_port  INTEGER NOT NULL DEFAULT 22 CHECK (upstream_port BETWEEN 1 AND 65535),
    upstream_user  TEXT,
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;
