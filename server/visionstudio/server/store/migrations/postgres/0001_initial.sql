CREATE TABLE jobs (
    id               text PRIMARY KEY,
    rpc              text NOT NULL,
    caller           text NOT NULL,
    model            text NOT NULL,
    params           jsonb NOT NULL,
    status           text NOT NULL,
    usage            jsonb,
    error            text,
    idempotency_key  text,
    request_hash     text,
    number_of_images integer NOT NULL DEFAULT 1,
    -- Unix seconds, the unit of the store's interface, so page tokens compare exactly.
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL,
    -- NULL keys are distinct, so jobs without a key never collide.
    CONSTRAINT jobs_caller_idempotency_key UNIQUE (caller, idempotency_key)
);
-- list_jobs and usage: one caller's jobs by time, newest first (keyset on created_at, id).
CREATE INDEX jobs_caller_created ON jobs (caller, created_at DESC, id DESC);
-- purge: everything older than the cutoff.
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE images (
    -- Storage order: a job's images are listed in the order they were added.
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    id         text PRIMARY KEY,
    job_id     text NOT NULL REFERENCES jobs (id),
    idx        integer NOT NULL,
    blob_key   text NOT NULL,
    mime_type  text NOT NULL,
    width      integer NOT NULL,
    height     integer NOT NULL,
    size_bytes bigint NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX images_job ON images (job_id, seq);
