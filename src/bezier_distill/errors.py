"""The one exception type for bad user input.

Library code raises :class:`BadInput` (a ``ValueError``) when an option, a file
or a shape given by the user is wrong; the CLI turns it into a one-line message
and exit code 2. Anything else is a bug and keeps its traceback.
"""


class BadInput(ValueError):
    """A user-supplied option, file or shape is invalid; the message names it."""
