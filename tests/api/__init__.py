"""The two surfaces: HTTP/JSON routes, fuzzing, keys and signed URLs, TLS."""
