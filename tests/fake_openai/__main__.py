"""``python -m tests.fake_openai --port 8600`` (see ``--help``)."""

from tests.fake_openai.cli import main

main()
