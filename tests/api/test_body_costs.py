"""What `parse_cost` reserves for an HTTP body covers what parsing it takes, measured in a
fresh process for each kind of body (a long prompt, base64 images plain, behind a `data:`
prefix or line-wrapped, and text that widens Python's strings)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.parse_peak import KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_the_reservation_covers_the_parse(kind: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.support.parse_peak", kind, "24"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    reserved, peak = float(out[0]), float(out[1])
    assert peak <= reserved, f"{kind}: parsing took {peak:.2f}x the body, {reserved}x reserved"
