"""The SQLite store's files are this user's alone: made private, never reached through a link.

The store holds every job's output (printed secrets included), and its lock files decide
whether a daemon may start. So the default folder ``.yamlcron`` is made 0700 and every file
of the store 0600 (``state.db`` and the ``-wal``/``-shm`` files SQLite gives its mode, the
daemon and apply locks, the doorbell): no other local user can read the history, or open a
lock file to hold a ``flock`` on it and stop ``yamlcron run`` or hang ``apply``.

A store someone else could have prepared is refused, not used: a ``.yamlcron`` folder or a
store file that is a symbolic link (yamlcron never makes one), or that belongs to another
user. Otherwise a manifest in a shared folder lets that folder's other users aim root's
writes at any file. A store made by an older yamlcron, with looser modes, is tightened,
and a warning says so.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

from yamlcron.errors import StoreError

log = logging.getLogger("yamlcron.store")

_Chmod = Callable[[int], None]

#: The default store's folder; yamlcron makes it, so it holds nothing it did not make.
FOLDER_NAME = ".yamlcron"
FOLDER_MODE = 0o700
FILE_MODE = 0o600
#: What ``.gitignore`` in the folder says: never commit the store.
GITIGNORE = "# yamlcron's state: never commit it\n*\n"
#: The suffixes of the files beside ``state.db``: SQLite's, then yamlcron's locks and doorbell.
SIBLINGS = ("-wal", "-shm", "-journal", ".daemon", ".apply", ".changed")


def guard_store(db: Path, *, create: bool) -> None:
    """Check (and with ``create``, make) the store at ``db`` private; StoreError if it is not.

    The folder is checked only when it is a ``.yamlcron`` folder (one yamlcron makes):
    a store URL may name a file in a folder an administrator shares on purpose. The files
    are checked wherever they are.
    """
    folder = db.parent
    if create:
        _make_folder(folder)
    if folder.name == FOLDER_NAME and _exists(folder):
        _guard(folder, "folder", FOLDER_MODE)
    for path in (db, *(db.with_name(db.name + s) for s in SIBLINGS)):
        if _exists(path):
            _guard(path, "file", FILE_MODE)
    if create:
        os.close(open_private(db))  # SQLite gives -wal and -shm the mode of the database


def open_private(path: Path, flags: int = os.O_RDWR) -> int:
    """Open (creating it 0600 if ``flags`` write) the store file ``path``; its descriptor.

    Never through a symbolic link (``O_NOFOLLOW``), and never a file of another user.
    """
    writes = flags & (os.O_RDWR | os.O_WRONLY)
    create = os.O_CREAT if writes else 0
    try:
        fd = os.open(path, flags | create | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(_linked(path, "file")) from None
        raise StoreError(f"cannot open {path}: {describe_os_error(exc)}") from None
    try:
        _check(path, os.fstat(fd), "file", FILE_MODE, lambda mode: os.fchmod(fd, mode))
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_gitignore(folder: Path) -> None:
    """Write ``.gitignore`` in ``folder`` whole or not at all (a temporary file, renamed).

    Written in place on a full disk, it stayed empty for good, and git then tracked the
    store; a leftover temporary file is removed.
    """
    target = folder / ".gitignore"
    if target.exists():
        return
    temporary = folder / f".gitignore.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        with open(fd, "w", encoding="utf-8") as out:
            out.write(GITIGNORE)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"cannot write {target}: {describe_os_error(exc)}") from None


def describe_os_error(exc: OSError) -> str:
    """An OSError in words, naming a full disk and a read-only filesystem plainly."""
    plain = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the filesystem is read-only",
    }
    reason = exc.strerror or type(exc).__name__
    said = plain.get(exc.errno or 0)
    return f"{said} ({reason})" if said else reason


def _make_folder(folder: Path) -> None:
    """Make the store's folder 0700 (those above it as usual), with ``.gitignore`` in one."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(folder, FOLDER_MODE)
    except FileExistsError:
        pass  # a link or another user's .yamlcron is refused by the caller
    except OSError as exc:
        raise StoreError(f"cannot create {folder}: {describe_os_error(exc)}") from None
    if folder.name == FOLDER_NAME:
        _guard(folder, "folder", FOLDER_MODE)
        write_gitignore(folder)


def _exists(path: Path) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    return True


def _guard(path: Path, kind: str, mode: int) -> None:
    """Refuse ``path`` if it is a link, of another kind or user; tighten a loose mode."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise StoreError(_linked(path, kind))
    _check(path, info, kind, mode, lambda m: os.chmod(path, m, follow_symlinks=False))


def _check(path: Path, info: os.stat_result, kind: str, mode: int, chmod: _Chmod) -> None:
    is_kind = stat.S_ISDIR if kind == "folder" else stat.S_ISREG
    if not is_kind(info.st_mode):
        raise StoreError(f"the store's {path} is not a {kind}; refusing to use it")
    if info.st_uid != os.geteuid():
        raise StoreError(
            f"the store's {kind} {path} belongs to another user (uid {info.st_uid}), not to "
            f"this one (uid {os.geteuid()}); refusing to use it: run yamlcron as its owner, "
            "or remove it"
        )
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if loose:
        try:
            chmod(stat.S_IMODE(info.st_mode) & ~0o077 | (mode & 0o700))
        except OSError:
            return  # a read-only filesystem: nothing can be written there either
        old = stat.S_IMODE(info.st_mode)
        log.warning(
            "the store's %s %s was readable by other users (mode %04o); made it %04o",
            kind,
            path,
            old,
            old & ~0o077 | (mode & 0o700),
        )


def _linked(path: Path, kind: str) -> str:
    return (
        f"the store's {kind} {path} is a symbolic link, which yamlcron never makes; "
        "refusing to follow it (remove it, or pass --store with the real path)"
    )
