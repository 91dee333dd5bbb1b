-- +goose Up
-- A rotation family's credits: the uses left, and an optional refill to a fixed amount at the
-- start of each day or month (credits_refilled_at is the Unix second of the period last
-- refilled). Verifiers spend in memory and subtract what they spent here in batches.
CREATE TABLE token_credits (
    family_id               BIGINT  PRIMARY KEY,
    credits_remaining       BIGINT  NOT NULL,
    credits_refill_amount   BIGINT  NOT NULL DEFAULT 0,
    credits_refill_interval TEXT    NOT NULL DEFAULT '',
    credits_refill_day      INTEGER NOT NULL DEFAULT 0,
    credits_refilled_at     BIGINT  NOT NULL DEFAULT 0,
    -- When the credits were last set through the API (Unix microseconds): a verifier takes a
    -- newer setting as the balance, discarding what it spent before.
    credits_set_at          BIGINT  NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE token_credits;
