-- +goose Up
-- A token's rate limits: a JSON array of {"name", "limit", "duration_seconds"}, or '' for none.
-- Counting happens in each verifier's memory; only the definitions are stored.
ALTER TABLE tokens ADD COLUMN rate_limits TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tokens DROP COLUMN rate_limits;
