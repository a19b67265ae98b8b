-- Session recording: per-route switch (NULL: record when the proxy has a record directory) and
-- the recording file of each audited session.
ALTER TABLE routes ADD COLUMN record INTEGER CHECK (record IN (0, 1));
ALTER TABLE sessions ADD COLUMN recording_path TEXT;
