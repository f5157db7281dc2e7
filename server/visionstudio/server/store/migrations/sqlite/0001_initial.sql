-- The schema as it was before versioned migrations; IF NOT EXISTS adopts databases made then.
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,
    rpc         TEXT NOT NULL,
    caller      TEXT NOT NULL,
    model       TEXT NOT NULL,
    params      TEXT NOT NULL,
    status      TEXT NOT NULL,
    image_ids   TEXT NOT NULL DEFAULT '[]',
    usage       TEXT,
    error       TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    idx         INTEGER NOT NULL,
    blob_key    TEXT NOT NULL,
    mime_type   TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    size_bytes  INTEGER NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS images_job ON images(job_id);
