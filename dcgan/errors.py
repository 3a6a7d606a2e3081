"""The one exception type a user sees.

Anything raised as ``UserError`` is bad input or a state the user can fix. The CLI prints its
message as a single line (no traceback) and exits non-zero; the message names the problem and
the fix.
"""


class UserError(Exception):
    """Bad input or an unusable state, described in one line with the fix."""


def refuse_overwrite(path, force: bool) -> None:
    """Nothing already written is overwritten unless the user says --force."""
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite it, or choose another --out")
