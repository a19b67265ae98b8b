-- Upstream host key verification per route.
-- host_key_fingerprint: the pinned "SHA256:..." fingerprint, NULL until pinned.
-- host_key_policy: 'strict', 'accept-new' or 'off'; NULL means the proxy's global default.
ALTER TABLE routes ADD COLUMN host_key_fingerprint TEXT;
ALTER TABLE routes ADD COLUMN host_key_policy TEXT CHECK (host_key_policy IN ('strict', 'accept-new', 'off'));
