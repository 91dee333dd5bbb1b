-- +goose Up
-- Each node's count of each rate-limit window it admitted requests in, so that nodes sharing a
-- database share a limit: a node adds the other nodes' counts to its own when it admits. Rows
-- are replaced by their node's next sync and pruned once their window has ended.
CREATE TABLE rate_counts (
    family_id  BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    duration_s BIGINT NOT NULL,
    window_idx BIGINT NOT NULL,
    node       TEXT   NOT NULL,
    used       BIGINT NOT NULL,
    PRIMARY KEY (family_id, name, duration_s, window_idx, node)
);

-- +goose Down
DROP TABLE rate_counts;
