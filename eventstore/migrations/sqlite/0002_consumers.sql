-- Where each consumer of the in-process bus has got to: every event up to
-- and including this position has been handled and acknowledged.
CREATE TABLE consumer_checkpoints (
    name        TEXT PRIMARY KEY,
    tx_id       INTEGER NOT NULL CHECK (tx_id >= 0),
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    updated_at  INTEGER NOT NULL   -- microseconds since the Unix epoch
);
