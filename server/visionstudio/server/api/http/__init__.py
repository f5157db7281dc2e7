"""The HTTP/JSON surface: the reference routes, SSE, image links, health and metrics."""
