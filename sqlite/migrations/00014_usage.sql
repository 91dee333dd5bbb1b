-- +goose Up
-- Usage analytics: verifications of each token by outcome, added up per minute, hour and day
-- (granularity_s 60, 3600, 86400; bucket_start in Unix seconds). Nodes add their counts in
-- batches; old buckets are pruned per granularity.
CREATE TABLE usage_counts (
    token_id       BIGINT  NOT NULL,
    account_id     BIGINT  NOT NULL,
    granularity_s  INTEGER NOT NULL,
    bucket_start   BIGINT  NOT NULL,
    ok             BIGINT  NOT NULL DEFAULT 0,
    forbidden      BIGINT  NOT NULL DEFAULT 0,
    rate_limited   BIGINT  NOT NULL DEFAULT 0,
    usage_exceeded BIGINT  NOT NULL DEFAULT 0,
    ip_denied      BIGINT  NOT NULL DEFAULT 0,
    expired        BIGINT  NOT NULL DEFAULT 0,
    revoked        BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (token_id, granularity_s, bucket_start)
);
CREATE INDEX usage_counts_account ON usage_counts (account_id, granularity_s, bucket_start);
CREATE INDEX usage_counts_prune ON usage_counts (granularity_s, bucket_start);

-- The client addresses each token was verified from (the most recent few), first and last
-- seen in Unix microseconds.
CREATE TABLE token_addresses (
    token_id   BIGINT NOT NULL,
    address    TEXT   NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    PRIMARY KEY (token_id, address)
);

-- +goose Down
DROP TABLE token_addresses;
DROP TABLE usage_counts;
