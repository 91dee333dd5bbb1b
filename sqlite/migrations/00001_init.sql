-- +goose Up
-- Times are Unix microseconds (the same precision PostgreSQL keeps), booleans 0/1.
CREATE TABLE accounts (
    id                         INTEGER PRIMARY KEY,
    name                       TEXT    NOT NULL,
    plan                       TEXT    NOT NULL,
    state                      INTEGER NOT NULL DEFAULT 1,
    reuse_revokes_family       INTEGER NOT NULL DEFAULT 1,
    leak_action                TEXT    NOT NULL DEFAULT 'revoke',
    max_token_lifetime_seconds INTEGER NOT NULL DEFAULT 0,
    ip_restrictions_enabled    INTEGER NOT NULL DEFAULT 0,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    state       INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX projects_account ON projects (account_id, state);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    first_name    TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL DEFAULT '',
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE memberships (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    license    TEXT    NOT NULL,
    state      INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE groups (
    id                INTEGER PRIMARY KEY,
    account_id        INTEGER NOT NULL REFERENCES accounts (id),
    name              TEXT    NOT NULL,
    assign_by_default INTEGER NOT NULL DEFAULT 0,
    builtin           INTEGER NOT NULL DEFAULT 0,
    state             INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE UNIQUE INDEX groups_account_name ON groups (account_id, name) WHERE state = 1;

CREATE TABLE group_members (
    group_id   INTEGER NOT NULL REFERENCES groups (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (account_id, user_id);

CREATE TABLE tokens (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    kind           TEXT    NOT NULL,
    user_id        INTEGER REFERENCES users (id),
    uid            TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    state          INTEGER NOT NULL DEFAULT 1,
    hash           BLOB UNIQUE,
    legacy_prefix  TEXT,
    legacy_hash    TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    expires_at     INTEGER,
    last_used_at   INTEGER,
    last_used_ip   TEXT    NOT NULL DEFAULT '',
    family_id      INTEGER NOT NULL DEFAULT 0,
    rotated_at     INTEGER,
    grace_until    INTEGER,
    replaced_by_id INTEGER NOT NULL DEFAULT 0,
    allowed_cidrs  TEXT    NOT NULL DEFAULT '',
    created_by     TEXT    NOT NULL DEFAULT '',
    flagged        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_account ON tokens (account_id, kind, state);
CREATE INDEX tokens_user ON tokens (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX tokens_legacy ON tokens (legacy_prefix) WHERE legacy_prefix IS NOT NULL;
CREATE INDEX tokens_family ON tokens (family_id);

CREATE TABLE grants (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    group_id       INTEGER REFERENCES groups (id),
    token_id       INTEGER REFERENCES tokens (id),
    permission_set TEXT    NOT NULL,
    all_projects   INTEGER NOT NULL,
    project_id     INTEGER,
    writable_envs  TEXT    NOT NULL DEFAULT '',
    state          INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX grants_group ON grants (group_id) WHERE group_id IS NOT NULL;
CREATE INDEX grants_token ON grants (token_id) WHERE token_id IS NOT NULL;

CREATE TABLE ip_rules (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    name        TEXT    NOT NULL,
    type        INTEGER NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    cidrs       TEXT    NOT NULL,
    state       INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX ip_rules_account ON ip_rules (account_id, state);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    event_type TEXT    NOT NULL,
    actor_type TEXT    NOT NULL,
    actor_id   INTEGER NOT NULL,
    actor_name TEXT    NOT NULL,
    actor_ip   TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    context    TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);

-- The audit log is append-only; only someone with raw database access can get around this, and
-- the hash chain reveals it (latchkey audit verify).
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log entries cannot be changed');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log entries cannot be deleted');
END;
-- +goose StatementEnd

CREATE TABLE sessions (
    hash         BLOB PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    account_id   INTEGER NOT NULL,
    csrf_secret  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- +goose Down
DROP TABLE sessions;
DROP TABLE audit_log;
DROP TABLE ip_rules;
DROP TABLE grants;
DROP TABLE tokens;
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE projects;
DROP TABLE accounts;
