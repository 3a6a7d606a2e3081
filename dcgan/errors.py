"""The one exception type a user sees.

Anything raised as ``UserError`` is bad input or a state the user can fix. The CLI prints its
message as a single line (no traceback) and exits non-zero; the message names the problem and
the fix.
"""


class UserError(Exception):
    """Bad input or an unusable state, described in one line with the fix."""


def refuse_overwrite(path, force: bool) -> None:
    """Nothing already written is overwritten unless the user says --force; and the file's
    folder must be one we can write to, checked before any work."""
    from pathlib import Path

    path = Path(path)
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite it, or choose another --out")
    check_writable_dir(path.parent, f"cannot write {path}")


def check_writable_dir(folder, what: str | None = None) -> None:
    """``folder`` exists (created if need be) and takes a new file: checked before expensive work,
    so a read-only disk or a file where a folder belongs is one line, not a lost result."""
    import os
    from pathlib import Path

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(
            f"{what or f'cannot write to {folder}'} ({e.strerror or e}); choose a writable folder"
        ) from None
