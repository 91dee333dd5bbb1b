-- +goose Up
-- The expiry sweep and the latchkey_tokens_expiring gauge look tokens up by expiry.
CREATE INDEX tokens_expiry ON tokens (expires_at) WHERE expires_at IS NOT NULL;

-- +goose Down
DROP INDEX tokens_expiry;
