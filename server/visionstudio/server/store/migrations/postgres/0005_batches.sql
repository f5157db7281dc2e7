-- Batches (RunBatch): one row per batch, one per item. Each item runs as an ordinary job; its
-- job_id is set when the job is created, so GetJob/WatchJob/CancelJob work on it.
CREATE TABLE batches (
    id              text PRIMARY KEY,
    caller          text NOT NULL,
    status          text NOT NULL,
    item_count      integer NOT NULL,
    idempotency_key text,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    CONSTRAINT batches_caller_idempotency_key UNIQUE (caller, idempotency_key)
);
CREATE INDEX batches_caller_created ON batches (caller, created_at DESC, id DESC);

CREATE TABLE batch_items (
    batch_id text NOT NULL REFERENCES batches (id),
    position integer NOT NULL,
    item_id  text NOT NULL,
    job_id   text,
    status   text NOT NULL,
    error    text,
    PRIMARY KEY (batch_id, position)
);
