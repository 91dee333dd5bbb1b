-- +goose Up
-- The longest lifetime an access token from the token endpoint may ask for (seconds; tokens
-- live 15 minutes unless the request asks for more, up to this).
ALTER TABLE accounts ADD COLUMN max_access_token_lifetime_seconds INTEGER NOT NULL DEFAULT 3600;

-- +goose Down
ALTER TABLE accounts DROP COLUMN max_access_token_lifetime_seconds;
