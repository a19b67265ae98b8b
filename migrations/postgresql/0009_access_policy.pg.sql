-- Access rules per route: the client ranges a login may come from (comma-separated CIDRs), the
-- weekly schedule (AccessSchedule's text, with its time zone), the validity (ISO 8601 UTC), the
-- most sessions at once across the cluster, and what sessions may use (comma-separated kinds).
-- NULL turns a rule off.
ALTER TABLE routes ADD COLUMN allow_from TEXT;
ALTER TABLE routes ADD COLUMN schedule TEXT;
-- 1: live sessions end when the schedule's window does (with a notice before).
ALTER TABLE routes ADD COLUMN schedule_ends_sessions BIGINT CHECK (schedule_ends_sessions IN (0, 1));
ALTER TABLE routes ADD COLUMN valid_from TEXT;
ALTER TABLE routes ADD COLUMN valid_until TEXT;
ALTER TABLE routes ADD COLUMN max_sessions BIGINT CHECK (max_sessions >= 1);
ALTER TABLE routes ADD COLUMN allowed_channels TEXT;
-- Pattern routes: their login is '~' and a regular expression; lower priorities are tried first.
ALTER TABLE routes ADD COLUMN match_priority BIGINT;
CREATE INDEX sessions_active_by_login ON sessions (login) WHERE ended_at IS NULL;
