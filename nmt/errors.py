"""The one exception type a user sees: printed as a single line, never a traceback."""


class NmtError(Exception):
    """A problem with the user's input (config, corpus, run directory, arguments)."""
