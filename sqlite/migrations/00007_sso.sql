-- +goose Up
-- Single sign-on: one OpenID Connect provider per account (dbt Cloud's auth provider), found by
-- its slug from the sign-in URL. The client secret is sealed (AES-256-GCM) with the deployment's
-- secret key before it reaches the database; an empty value is a public client.
CREATE TABLE sso_providers (
    id                      INTEGER PRIMARY KEY,
    account_id              INTEGER NOT NULL REFERENCES accounts (id),
    type                    TEXT    NOT NULL,
    slug                    TEXT    NOT NULL,
    allow_password_backdoor INTEGER NOT NULL DEFAULT 1,
    issuer                  TEXT    NOT NULL,
    client_id               TEXT    NOT NULL,
    client_secret_sealed    BLOB,
    groups_claim            TEXT    NOT NULL,
    state                   INTEGER NOT NULL DEFAULT 1,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);
CREATE UNIQUE INDEX sso_providers_account ON sso_providers (account_id) WHERE state = 1;
CREATE UNIQUE INDEX sso_providers_slug ON sso_providers (slug) WHERE state = 1;

-- License maps: users signing in with SSO who are in one of sso_groups (a JSON array of IdP
-- group names) get license_type.
CREATE TABLE license_maps (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    license_type TEXT    NOT NULL,
    sso_groups   TEXT    NOT NULL DEFAULT '[]',
    state        INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX license_maps_account ON license_maps (account_id, state);

-- A session started by an account's single sign-on acts only in that account: that account's
-- IdP vouched for the person, no other account's did. 0: a password session.
ALTER TABLE sessions ADD COLUMN sso_account_id INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN sso_account_id;
DROP TABLE license_maps;
DROP TABLE sso_providers;
