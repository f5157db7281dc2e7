"""OpenAI's error answers: the exception a handler raises and the wording of its messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ApiError(Exception):
    """An answer in OpenAI's error shape: {"error": {message, type, param, code}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        self.headers = dict(headers or {})


def bad(message: str, param: str | None = None, code: str | None = "invalid_value") -> ApiError:
    """A 400 invalid_request_error, the answer to most refused parameters."""
    return ApiError(400, message, param=param, code=code)


def kind(value: Any) -> str:
    """The JSON type of a value as OpenAI's messages name it ("an integer", "null"...)."""
    kinds = [(bool, "a boolean"), (int, "an integer"), (float, "a decimal"), (str, "a string")]
    kinds += [(list, "an array"), (dict, "an object")]
    return next((name for typ, name in kinds if isinstance(value, typ)), "null")


def one_of(values: Iterable[str]) -> str:
    """'a', 'b', and 'c': the list of supported values in OpenAI's messages."""
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 1 else quoted[0]
