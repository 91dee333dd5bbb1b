-- +goose Up
-- A user whose password an admin set to a temporary one must choose their own at their next
-- sign-in before they can use anything else.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN must_change_password;
