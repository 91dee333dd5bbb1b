-- +goose Up
-- Idempotency-Key of token creations: a retry of a creation whose answer was lost finds the token
-- it made instead of making a second one. key_hash is SHA-256 of the header's value; principal
-- is who created it ("user:3"), so one caller's keys never match another's.
CREATE TABLE idempotency_keys (
    account_id BIGINT  NOT NULL,
    principal  TEXT    NOT NULL,
    key_hash   BYTEA   NOT NULL,
    token_id   BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (account_id, principal, key_hash)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- One row per serving process, rewritten by its periodic write probe (/readyz): the smallest
-- real write, taking the same locks as any change.
CREATE TABLE health_probe (
    node TEXT    PRIMARY KEY,
    at   BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE health_probe;
DROP TABLE idempotency_keys;
