"""Typed reading of request parameters, with the type and range errors the real API gives."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tests.fake_openai.errors import ApiError, bad, kind, one_of


class Params:
    """Typed access to parameters: JSON keeps its types, multipart values arrive as strings."""

    def __init__(self, raw: Mapping[str, Any], *, form: bool) -> None:
        self.raw = raw
        self.form = form

    def _type_error(self, name: str, expected: str, value: Any) -> ApiError:
        got = kind(value)
        msg = f"Invalid type for '{name}': expected {expected}, but got {got} instead."
        return bad(msg, name, "invalid_type")

    def string(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is not None and not isinstance(value, str):
            raise self._type_error(name, "a string", value)
        return value

    def choice(self, name: str, allowed: Iterable[str]) -> str | None:
        value = self.string(name)
        allowed = list(allowed)
        if value is not None and value not in allowed:
            raise bad(f"Invalid value: '{value}'. Supported values are: {one_of(allowed)}.", name)
        return value

    def integer(self, name: str, low: int, high: int) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if self.form and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._type_error(name, "an integer", value)
        if value < low:
            msg = f"Invalid '{name}': integer below minimum value. Expected a value >= {low}"
            raise bad(f"{msg}, but got {value} instead.", name, "integer_below_min_value")
        if value > high:
            msg = f"Invalid '{name}': integer above maximum value. Expected a value <= {high}"
            raise bad(f"{msg}, but got {value} instead.", name, "integer_above_max_value")
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if self.form and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if value is not None and not isinstance(value, bool):
            raise self._type_error(name, "a boolean", value)
        return value
