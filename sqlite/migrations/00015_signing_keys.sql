-- +goose Up
-- Keys that sign short-lived access tokens (JWTs). Each key's schedule is fixed when it is made
-- (Unix microseconds): published from created_at, signing from active_from to sign_until,
-- published until publish_until. private_sealed is the private key sealed (AES-256-GCM) with
-- the deployment's secret key: the key itself is never stored.
CREATE TABLE signing_keys (
    kid            TEXT   PRIMARY KEY,
    algorithm      TEXT   NOT NULL,
    public_key     BLOB  NOT NULL,
    private_sealed BLOB  NOT NULL,
    created_at     BIGINT NOT NULL,
    active_from    BIGINT NOT NULL,
    sign_until     BIGINT NOT NULL,
    publish_until  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE signing_keys;
