"""What happens to a request: validation, admission, the runner, queries, image links."""
