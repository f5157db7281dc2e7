"""Blob and job stores, against real PostgreSQL and S3-compatible servers."""
