-- +goose Up
-- Workload identity federation: tokens of an external OpenID Connect issuer whose claims meet
-- the conditions (JSON) are exchanged for access tokens of a service token's family, narrowed to
-- grants (JSON, empty: none). Times are Unix microseconds; state 1 active, 2 deleted.
CREATE TABLE trust_policies (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    name       TEXT    NOT NULL,
    issuer     TEXT    NOT NULL,
    audience   TEXT    NOT NULL,
    conditions TEXT    NOT NULL,
    family_id  BIGINT  NOT NULL,
    grants     TEXT    NOT NULL DEFAULT '[]',
    state      INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
CREATE INDEX trust_policies_issuer ON trust_policies (issuer, state);
CREATE INDEX trust_policies_account ON trust_policies (account_id, state);

-- +goose Down
DROP TABLE trust_policies;
