"""Reading a manifest file: a regular file only, never past a size limit."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from yamlcron.errors import Issue, ManifestError, YamlcronError

#: Larger manifests are refused before they are read (100,000 jobs take about 10 MiB).
MAX_BYTES = 32 * 1024 * 1024


def read_manifest_file(path: Path) -> bytes:
    """The bytes of the manifest at ``path``, a regular file (or a link to one), at most.

    At most ``MAX_BYTES`` are read.

    A manifest path may name anything: a link to ``/dev/zero`` (endless), ``/dev/urandom``
    or a FIFO (a read that never ends), a ``/proc`` file whose size reads as 0. Only a
    regular file is read, opened without blocking, and never past the limit.

    Raises:
        YamlcronError: it cannot be opened or read, or it is not a regular file.
        ManifestError: it is over the size limit.
    """
    file = str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer.
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise YamlcronError(f"{file}: cannot read the manifest: {exc.strerror}") from None
    with open(handle, "rb", closefd=True) as reader:
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            raise YamlcronError(
                f"{file}: cannot read the manifest: it is {_file_kind(mode)}, not a regular file"
            )
        try:
            data = reader.read(MAX_BYTES + 1)
        except OSError as exc:
            raise YamlcronError(f"{file}: cannot read the manifest: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        message = f"the manifest is over the {MAX_BYTES >> 20} MiB limit; refused"
        raise ManifestError([Issue(file, 1, 1, "", message)])
    return data


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_IFDIR: "a folder",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFIFO: "a FIFO (named pipe)",
        stat.S_IFSOCK: "a socket",
    }
    return kinds.get(stat.S_IFMT(mode), "not a regular file")
