-- Which port forwarding a route allows: 'all', 'local' (-L/-D/-W), 'remote' (-R) or 'none'.
-- NULL means 'all'.
ALTER TABLE routes ADD COLUMN forwarding TEXT CHECK (forwarding IN ('all', 'local', 'remote', 'none'));
