"""Domain errors that services raise; the API and admin translate them for people."""

from pathlib import Path


class Conflict(Exception):
    """The request is valid but clashes with the current state (answered with 409)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Unavailable(Exception):
    """Something the write needs (the task queue) cannot be reached, and nothing was written
    (answered with 503 and ``Retry-After``)."""

    def __init__(self, message: str, *, code: str, retry_after: int):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after


class NotAllowed(Exception):
    """The actor may not perform this write (answered with 403)."""


class TooLarge(Exception):
    """An upload is larger than the limit allows (answered with 413)."""

    def __init__(self, message: str, *, limit: int, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.limit = limit
        self.field = field


class UnacceptableContent(Exception):
    """Well-formed input whose content is refused, such as a file of a disallowed type (answered with 422)."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


class DataFileError(ValueError):
    """A data file (catalog, import) is missing or malformed; names the file and, if known, the line."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {message}")
