-- +goose Up
-- A rotation that does not name its grace period uses the account's default (one hour), so that
-- a rotation under live traffic does not end with the successor revoked by reuse detection.
ALTER TABLE accounts ADD COLUMN default_rotation_grace_seconds INTEGER NOT NULL DEFAULT 3600;
-- How a revoked token ended, for the revoked-tokens view: when, why (deleted, leak_reported,
-- reuse_detected, membership_removed, rotated) and by whom ("user:3", "system:reuse detection").
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN revoked_by TEXT NOT NULL DEFAULT '';
-- Tokens revoked before this migration keep the time of their last change; why was not recorded
-- on the token (the audit log has it).
UPDATE tokens SET revoked_at = updated_at WHERE state = 2;

-- +goose Down
ALTER TABLE tokens DROP COLUMN revoked_by;
ALTER TABLE tokens DROP COLUMN revoked_reason;
ALTER TABLE tokens DROP COLUMN revoked_at;
ALTER TABLE accounts DROP COLUMN default_rotation_grace_seconds;
