"""A small, strict, OpenAI-compatible Images API served over real HTTP on loopback.

Tests, benchmarks and newcomers point the openai SDK at it (``OPENAI_BASE_URL``) instead of the real
API. It speaks the same wire format (JSON, multipart, Server-Sent Events, error bodies) and refuses
what the real API refuses (sizes per model, mask format and size, enum values, unknown parameters),
so a request the real API would reject fails in our tests too. Images are real, deterministic
Pillow renderings; edits return the input recolored so callers can prove they restore pixels.

Run it by hand with ``python -m tests.fake_openai --port 8600``; its counters
(images served, calls refused by the optional rate limits) are at ``GET /_fake/stats``.

One module per idea: ``models`` (models and their sizes), ``params`` and ``job`` (the parameters
and their checks), ``bodies`` (reading JSON and multipart), ``edit_inputs`` (the uploaded images),
``render`` (drawing and encoding), ``answers`` (JSON, Server-Sent Events, usage), ``ratelimit``,
``faults``, ``auth``, ``server`` (the aiohttp app) and ``cli``.
"""

from tests.fake_openai.bodies import RecordedRequest
from tests.fake_openai.cli import main
from tests.fake_openai.config import Failure, FakeOpenAIConfig
from tests.fake_openai.server import STATS_PATH, FakeOpenAI

__all__ = ["STATS_PATH", "Failure", "FakeOpenAI", "FakeOpenAIConfig", "RecordedRequest", "main"]
