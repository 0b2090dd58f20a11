"""The one exception type a user sees: printed as a single line, never a traceback."""


class NmtError(Exception):
    """A problem with the user's input (config, corpus, run directory, arguments)."""


def first_line(error: BaseException, limit: int = 160) -> str:
    """The first line of a library error's message, cut to ``limit`` characters, to quote
    inside a one-line ``NmtError`` (TensorFlow's errors keep their text in ``.message``)."""
    text = (getattr(error, "message", None) or str(error)).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__
