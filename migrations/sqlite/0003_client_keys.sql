-- Public keys clients may log in with, per route, and the route's mapped upstream identity.
CREATE TABLE route_keys (
    login        TEXT NOT NULL REFERENCES routes (login) ON DELETE CASCADE ON UPDATE CASCADE,
    key_type     TEXT NOT NULL,
    key_base64   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    comment      TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    PRIMARY KEY (login, fingerprint)
) STRICT;

-- Private key file the proxy logs in upstream with for public-key clients (NULL: none).
ALTER TABLE routes ADD COLUMN identity_file TEXT;
