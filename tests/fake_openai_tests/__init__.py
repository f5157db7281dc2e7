"""The loopback OpenAI Images API itself, driven by the real SDK."""
