"""The one exception type longbert raises for bad input: its message is a one-line, user-facing error."""


class LongbertError(ValueError):
    """Invalid parameters, unusable text or an unloadable model; str(error) is shown to the user as is."""


class Stopped(LongbertError):
    """Work stopped on request (a scoring Meter's stop flag was set): not an error in the input."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (or its type name): third-party errors shown as one line."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class Unreachable(LongbertError):
    """A cluster that did not answer in time: its client may still be retrying in a thread of its own, so a command
    exits at once after saying so."""
