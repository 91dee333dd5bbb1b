-- +goose Up
-- Rate limits for every token of an account without limits of its own (JSON, '' for none).
ALTER TABLE accounts ADD COLUMN default_rate_limits TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE accounts DROP COLUMN default_rate_limits;
