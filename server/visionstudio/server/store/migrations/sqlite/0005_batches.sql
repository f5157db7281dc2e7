-- Batches (RunBatch): one row per batch, one per item. Each item runs as an ordinary job; its
-- job_id is set when the job is created, so GetJob/WatchJob/CancelJob work on it.
CREATE TABLE batches (
    id              TEXT PRIMARY KEY,
    caller          TEXT NOT NULL,
    status          TEXT NOT NULL,
    item_count      INTEGER NOT NULL,
    idempotency_key TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    UNIQUE (caller, idempotency_key)
);
CREATE INDEX batches_caller_created ON batches (caller, created_at DESC, id DESC);

CREATE TABLE batch_items (
    batch_id TEXT NOT NULL REFERENCES batches (id),
    position INTEGER NOT NULL,
    item_id  TEXT NOT NULL,
    job_id   TEXT,
    status   TEXT NOT NULL,
    error    TEXT,
    PRIMARY KEY (batch_id, position)
);
