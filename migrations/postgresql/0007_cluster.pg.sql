-- Several nodes on one database: the nodes and their heartbeats, which node holds each session
-- and whether an operator asked to end it, the bans any node decided, the host keys every node
-- must present, and route keys kept in the database (encrypted with the cluster secret).
-- Times in these columns are milliseconds since 1970 by the database's clock, so nodes whose
-- clocks disagree still agree on a heartbeat's age.
CREATE TABLE nodes (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    address       TEXT NOT NULL,
    version       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('running', 'draining', 'stopped', 'lost')),
    started_ms    BIGINT NOT NULL,
    heartbeat_ms  BIGINT NOT NULL
);

ALTER TABLE sessions ADD COLUMN node_id TEXT;
ALTER TABLE sessions ADD COLUMN kill_requested_ms BIGINT;
CREATE INDEX sessions_active_by_node ON sessions (node_id) WHERE ended_at IS NULL;

CREATE TABLE bans (
    source      TEXT PRIMARY KEY NOT NULL,
    until_ms    BIGINT NOT NULL,
    node_id     TEXT NOT NULL
);

CREATE TABLE cluster_host_keys (
    key_type       TEXT PRIMARY KEY NOT NULL,
    fingerprint    TEXT NOT NULL,
    registered_ms  BIGINT NOT NULL
);

-- A route's upstream private key, encrypted (OpenSSH format, the cluster secret as passphrase).
ALTER TABLE routes ADD COLUMN identity_key TEXT;
