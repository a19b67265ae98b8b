-- OpenSSH certificates: how each route logs in upstream, the proxy's own user-signing CAs (the
-- one that signs and, during a rotation, the next one), the client CAs whose certificates
-- log clients in, and the client certificates revoked before they expire.
ALTER TABLE routes ADD COLUMN upstream_auth TEXT CHECK (upstream_auth IN ('password', 'key', 'agent', 'certificate'));
ALTER TABLE routes ADD COLUMN certificate_principal TEXT;
ALTER TABLE routes ADD COLUMN certificate_lifetime INTEGER;

-- The private key is a file in the data directory (key_file) or, in a shared database, OpenSSH
-- key text encrypted with the cluster secret (key_encrypted). A retired CA keeps its row, for
-- the record, but not its private key.
CREATE TABLE signing_cas (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    public_key     TEXT NOT NULL,
    fingerprint    TEXT NOT NULL UNIQUE,
    key_file       TEXT,
    key_encrypted  TEXT,
    state          TEXT NOT NULL CHECK (state IN ('signing', 'next', 'retired')),
    created_at     TEXT NOT NULL,
    retired_at     TEXT
) STRICT;
CREATE UNIQUE INDEX signing_cas_one_per_state ON signing_cas (state) WHERE state IN ('signing', 'next');

CREATE TABLE client_cas (
    name         TEXT PRIMARY KEY NOT NULL,
    key_type     TEXT NOT NULL,
    key_base64   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL
) STRICT;

-- A revoked serial or key id, for one client CA (ca_name) or for every one (NULL). Serials are
-- unsigned 64-bit numbers, kept as decimal text.
CREATE TABLE certificate_revocations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ca_name     TEXT,
    serial      TEXT,
    key_id      TEXT,
    created_at  TEXT NOT NULL,
    CHECK ((serial IS NULL) <> (key_id IS NULL))
) STRICT;
