-- Each image's own token usage (JSON, as jobs.usage), written when the image is stored, so a job
-- carried on by another owner still counts what its first owner paid for; and the provider
-- deployment that made it.
ALTER TABLE images ADD COLUMN usage TEXT;
ALTER TABLE images ADD COLUMN deployment TEXT;
