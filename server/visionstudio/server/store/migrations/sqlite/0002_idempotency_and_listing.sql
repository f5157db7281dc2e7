ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
ALTER TABLE jobs ADD COLUMN request_hash TEXT;
ALTER TABLE jobs ADD COLUMN number_of_images INTEGER NOT NULL DEFAULT 1;
-- NULL keys are distinct, so jobs without a key never collide.
CREATE UNIQUE INDEX jobs_caller_idempotency_key ON jobs(caller, idempotency_key);
-- list_jobs and usage: one caller's jobs by time, newest first (keyset on created_at, id).
CREATE INDEX jobs_caller_created ON jobs(caller, created_at, id);
-- purge: everything older than the cutoff.
CREATE INDEX jobs_created ON jobs(created_at);
