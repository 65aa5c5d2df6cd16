"""Domain errors that services raise; the API and admin translate them for people."""


class Conflict(Exception):
    """The request is valid but clashes with the current state (answered with 409)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(Exception):
    """The actor may not perform this write (answered with 403)."""
