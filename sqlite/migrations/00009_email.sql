-- +goose Up
-- Email notices. The "email" event consumer turns audit entries into queued notices in the same
-- transaction as it moves its cursor; a sender claims due notices with a lease (like webhook
-- deliveries), groups a recipient's digest notices of one day into one email, and marks them sent.
INSERT INTO event_cursors (name, last_id) SELECT 'email', COALESCE(MAX(id), 0) FROM audit_log;

-- Notices of expiring tokens (digest) and security events (alert), one per recipient and event.
-- details is JSON: what the email says about the event (never a token string).
CREATE TABLE email_notices (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('digest', 'alert')),
    event_id    INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    details     TEXT    NOT NULL DEFAULT '{}',
    state       TEXT    NOT NULL DEFAULT 'pending',
    send_after  INTEGER NOT NULL,
    sent_at     INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    lease_node  TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX email_notices_event ON email_notices (event_id, user_id);
CREATE INDEX email_notices_due ON email_notices (send_after) WHERE state = 'pending';
CREATE INDEX email_notices_user ON email_notices (user_id, account_id, kind, send_after);

-- A user's choice to receive (the default) or not receive email notices.
ALTER TABLE users ADD COLUMN email_notices INTEGER NOT NULL DEFAULT 1;

-- Thresholds of service_token.expiring (a JSON array of days) and the idle time after which a
-- service token is audited as service_token.unused (0: never).
ALTER TABLE accounts ADD COLUMN expiry_notice_days TEXT NOT NULL DEFAULT '[30,7,1]';
ALTER TABLE accounts ADD COLUMN unused_token_days INTEGER NOT NULL DEFAULT 90;

-- +goose Down
ALTER TABLE accounts DROP COLUMN unused_token_days;
ALTER TABLE accounts DROP COLUMN expiry_notice_days;
ALTER TABLE users DROP COLUMN email_notices;
DROP TABLE email_notices;
DELETE FROM event_cursors WHERE name = 'email';
