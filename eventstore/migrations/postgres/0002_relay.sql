-- Where each relay to the message bus has got to: every event up to and
-- including this position has been acknowledged by the bus. Written only on
-- the connection that holds the relay's lease, so a relay that lost its lease
-- cannot move the checkpoint.
CREATE TABLE relay_checkpoints (
    name        text PRIMARY KEY,
    tx_id       bigint NOT NULL CHECK (tx_id >= 0),
    seq         bigint NOT NULL CHECK (seq >= 0),
    published   bigint NOT NULL DEFAULT 0 CHECK (published >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
