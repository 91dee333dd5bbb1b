-- +goose Up
-- Webhooks. The audit log is the outbox: consumers keep a cursor into it (event_cursors) and
-- move it in the same transaction as what they derive from the entries (deliveries, email
-- notices). A consumer starts at the entries written after this migration: no history is sent.
CREATE TABLE event_cursors (
    name    TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
);
INSERT INTO event_cursors (name, last_id) SELECT 'webhooks', COALESCE(MAX(id), 0) FROM audit_log;

-- An account's endpoints. secret is "whsec_…" or its sealed form; prev_secret keeps signing
-- until prev_secret_until after a rotation.
CREATE TABLE webhook_subscriptions (
    id                INTEGER PRIMARY KEY,
    account_id        INTEGER NOT NULL REFERENCES accounts (id),
    name              TEXT    NOT NULL,
    description       TEXT    NOT NULL DEFAULT '',
    client_url        TEXT    NOT NULL,
    event_types       TEXT    NOT NULL DEFAULT '[]',
    active            INTEGER NOT NULL DEFAULT 1,
    secret            TEXT    NOT NULL,
    prev_secret       TEXT    NOT NULL DEFAULT '',
    prev_secret_until INTEGER,
    failing_since     INTEGER,
    disabled_reason   TEXT    NOT NULL DEFAULT '',
    state             INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX webhook_subscriptions_account ON webhook_subscriptions (account_id, state);

-- One event on its way to one subscription. A node takes a due delivery by setting lease_node
-- and lease_until; a delivery whose lease ran out (its node died) is due again.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL,
    subscription_id INTEGER NOT NULL REFERENCES webhook_subscriptions (id),
    event_id        INTEGER NOT NULL DEFAULT 0,
    event_type      TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_node      TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_response   TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);
CREATE INDEX webhook_deliveries_account ON webhook_deliveries (account_id, id);

-- The delivery log: every attempt, with the start of the response.
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    node        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    response    TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    duration_us INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
DROP TABLE event_cursors;
