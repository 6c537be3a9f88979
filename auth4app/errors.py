"""The stable errors of the auth4app flow, turned into HTTP replies (views) or close codes (socket)."""

from __future__ import annotations


class LoginError(Exception):
    """A refusal with an HTTP status, a stable machine code and a message for the person."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def as_body(self) -> dict:
        return {"error": self.message, "detail": self.message, "code": self.code}
