"""One writer per output folder: a command that writes into a run or results folder holds an
exclusive lock on it for its lifetime, so two `dcgan train` runs into one --out cannot interleave
their log rows or overwrite each other's checkpoints; the second gets one line naming the first's
PID. The lock is the operating system's (``flock`` on ``.dcgan-lock`` in the folder): a process
that is killed releases it with its file descriptors, so a lock left behind by a killed run is
taken over by the next writer without asking anyone to delete anything.

Nested holds of one folder in one process (a bench cell calling a command that locks the same
folder) share the first hold. On release the lock file is removed, and a folder the hold created
that is still empty is removed too: a failed command leaves no empty folder behind.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from .errors import UserError

NAME = ".dcgan-lock"
ROWS_LOCK = ".rows-lock"  # writers of a results folder's rows files take turns on it
_HELD: dict[str, int] = {}  # real path -> holds of it in this process


def transient(name: str) -> bool:
    """Files of ours that are not results: the lock, a killed write's temporary, a write test.
    A folder holding only these counts as empty."""
    return name in (NAME, ROWS_LOCK) or ".tmp-" in name or name.startswith(".write-test-")


@contextlib.contextmanager
def hold(folder, what: str = "--out"):
    folder = Path(folder)
    key = os.path.realpath(folder)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    created = _make(folder, what)
    try:
        fd = _acquire(folder, what)
    except BaseException:
        _remove_if_empty(created)
        raise
    _HELD[key] = 1
    try:
        yield folder
    finally:
        del _HELD[key]
        _release(folder / NAME, fd)
        _remove_if_empty(created)


@contextlib.contextmanager
def leave_no_empty(folder):
    """The folders on the way to ``folder`` that do not exist yet and are empty when the block
    ends (a command made them for a file it never wrote) are removed."""
    missing = _missing(Path(folder))
    try:
        yield
    finally:
        _remove_if_empty(missing)


def _missing(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist, outermost first."""
    missing = []
    probe = folder.absolute()
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    return list(reversed(missing))


def _make(folder: Path, what: str) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing = _missing(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot make {what} {folder} ({e.strerror or e}); choose a writable folder"
        ) from None
    return missing


def _acquire(folder: Path, what: str) -> int:
    def refuse(holder: str) -> UserError:
        return UserError(
            f"{what} {folder} is being written by another process (PID {holder}); wait for it"
            " to finish, or choose another folder"
        )

    return _lock_file(folder / NAME, what, f"{os.getpid()}", refuse)


def _lock_file(path: Path, what: str, holder: str, refuse=None) -> int:
    """An exclusive flock on ``path`` (created if missing) naming ``holder`` inside; with
    ``refuse`` (holder -> UserError) a lock held elsewhere raises that error, without it the call
    waits for the lock."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one writer is then the user's to keep
        return os.open(path.parent, os.O_RDONLY)

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(
                f"cannot write to {what} {path.parent} ({e.strerror or e}); choose a writable"
                " folder"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if refuse else 0))
        except BlockingIOError:
            found = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise refuse(found) from None
        # the holder before us may have removed the file between our open and our lock: then
        # we locked a file nobody else will open; take the one at the path instead
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{holder}\n".encode(), 0)
            return fd
        os.close(fd)


def _release(path: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)  # before the unlock: a waiting opener sees a new inode
    os.close(fd)


@contextlib.contextmanager
def claim(path, what: str):
    """A claim on one piece of work (a suite cell) for this process's lifetime at most: a second
    claimant, in any process (on any machine sharing a file system that honours flock: local
    disks, NFSv4), is refused with a UserError naming the holder's PID and host. Killed holders
    release it as folder locks do."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def refuse(holder: str) -> UserError:
        return UserError(
            f"{what} is being run by another process (PID {holder}); wait for it to finish,"
            " then run again"
        )

    fd = _lock_file(path, what, f"{os.getpid()} on {socket.gethostname()}", refuse)
    try:
        yield path
    finally:
        _release(path, fd)


@contextlib.contextmanager
def exclusive(path):
    """Waits for, then holds, an exclusive lock on ``path``: writers of one shared file (a rows
    CSV appended to by several suite workers) take turns."""
    path = Path(path)
    fd = _lock_file(path, "the lock", f"{os.getpid()}")
    try:
        yield path
    finally:
        _release(path, fd)


def _remove_if_empty(created: list[Path]) -> None:
    for folder in reversed(created):  # innermost first
        try:
            if all(transient(p.name) for p in folder.iterdir()):
                for p in folder.iterdir():
                    p.unlink()
                folder.rmdir()
            else:
                return
        except OSError:
            return
