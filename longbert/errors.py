"""The one exception type longbert raises for bad input: its message is a one-line, user-facing error."""


class LongbertError(ValueError):
    """Invalid parameters, unusable text or an unloadable model; str(error) is shown to the user as is."""
