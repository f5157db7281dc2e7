-- Durable batches (#20): each item's request is stored with the batch (its parameters here, its
-- input images in the blob store), and the replica driving a running batch holds a lease on it,
-- as on jobs: when the lease runs out another replica, or the restarted server, drives it on.
-- items_digest: a hash of the items' requests, so a reused idempotency key with other items
-- is refused.
ALTER TABLE batches ADD COLUMN items_digest text;
ALTER TABLE batches ADD COLUMN lease_owner text;
ALTER TABLE batches ADD COLUMN lease_until double precision NOT NULL DEFAULT 0;
ALTER TABLE batch_items ADD COLUMN rpc text;
ALTER TABLE batch_items ADD COLUMN params jsonb;
-- claim_expired_batches: the running batches whose lease ran out.
CREATE INDEX batches_status_lease ON batches (status, lease_until);
-- purge_batches: ended batches older than the cutoff.
CREATE INDEX batches_created ON batches (created_at);
