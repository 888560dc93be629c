-- Where each consumer of the in-process bus has got to: every event up to
-- and including this position has been handled and acknowledged.
CREATE TABLE consumer_checkpoints (
    name        text PRIMARY KEY,
    tx_id       bigint NOT NULL CHECK (tx_id >= 0),
    seq         bigint NOT NULL CHECK (seq >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
