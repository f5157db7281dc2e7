"""Jobs: re-attach, idempotency, admission, streaming events."""
