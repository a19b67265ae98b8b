-- One row per client session that logged in: who, from where, to where, how long, how much.
CREATE TABLE sessions (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    login              TEXT NOT NULL,
    client_addr        TEXT NOT NULL,
    client_port        INTEGER NOT NULL,
    upstream_host      TEXT NOT NULL,
    upstream_port      INTEGER NOT NULL,
    upstream_user      TEXT NOT NULL,
    auth_method        TEXT NOT NULL,
    started_at         TEXT NOT NULL,
    ended_at           TEXT,
    bytes_to_upstream  INTEGER NOT NULL DEFAULT 0,
    bytes_to_client    INTEGER NOT NULL DEFAULT 0,
    exit_status        TEXT,
    end_reason         TEXT
) STRICT;

CREATE INDEX sessions_by_start ON sessions (started_at);
CREATE INDEX sessions_by_login ON sessions (login, started_at);
