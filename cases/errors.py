class DomainError(Exception):
    """A rule of the domain refused the operation; ``message`` is shown to the user as is."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
