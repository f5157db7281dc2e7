"""Test helpers: a local, strict, OpenAI-compatible Images API (see ``fake_openai``)."""
