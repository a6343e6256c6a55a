"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class BotError(Exception):
    """A problem the user can fix (bad input, wrong folder, bad flag): shown as one line, no traceback."""
