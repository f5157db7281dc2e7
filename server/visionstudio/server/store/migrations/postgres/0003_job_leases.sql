-- The replica making a running job and until when (unix seconds) it holds it; an expired lease
-- is claimed by another replica or the restarted server. 0 = nobody holds it.
ALTER TABLE jobs ADD COLUMN lease_owner text;
ALTER TABLE jobs ADD COLUMN lease_until double precision NOT NULL DEFAULT 0;
-- claim_expired: the running jobs whose lease ran out.
CREATE INDEX jobs_status_lease ON jobs (status, lease_until);
