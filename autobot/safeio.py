"""Bounded reads of user files: a document, a data file or an edit during a live run is untrusted.

Every read checks the file type and size first (a FIFO, a device such as ``/dev/zero`` or a folder
is refused before it is opened, so nothing hangs), then reads at most the limit; a gzip file is
decompressed up to the limit too (a 14 MB gzip bomb stops at the limit, not at 8 GB).
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path


class ReadRefused(Exception):
    """The file cannot be read safely: ``reason`` says why, ``hint`` what to do."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason, self.hint = reason, hint


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Raises :class:`ReadRefused` for
    anything else, and the usual ``OSError`` (``FileNotFoundError``...) when it cannot be opened."""
    st = os.stat(path)                      # follows links: a link to /dev/zero is a device
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device" \
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket" \
            if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        raise ReadRefused(f"{path} is {kind}, not a file", "pass a regular file")
    if st.st_size > limit:
        raise ReadRefused(f"{path} is {_mib(st.st_size)}, above the limit of {_mib(limit)}",
                          "trim or split the file")
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:                   # it grew while being read
        raise ReadRefused(f"{path} is larger than the limit of {_mib(limit)}", "trim or split the file")
    return data


def gunzip_bounded(raw: bytes, limit: int, name: str) -> bytes:
    """Decompress gzip data (every member) to at most ``limit`` bytes."""
    out = bytearray()
    data = raw
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += d.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise ReadRefused(f"{name} is not valid gzip data ({exc})", "pass the file as it was downloaded") from None
        if len(out) > limit or d.unconsumed_tail:
            raise ReadRefused(f"{name} decompresses to more than the limit of {_mib(limit)}",
                              "decompress and trim it, or load it into a NautilusTrader catalog (--catalog)")
        if not d.eof:
            raise ReadRefused(f"{name} is a truncated gzip file", "download it again")
        data = d.unused_data
    return bytes(out)


def read_text_or_none(path: str | Path, limit: int) -> str | None:
    """The file's text for showing a source line (invalid bytes replaced), or None when it is not
    a regular file within ``limit`` or cannot be read: never hangs, never raises."""
    try:
        return read_bounded(path, limit).decode("utf-8", errors="replace")
    except (ReadRefused, OSError):
        return None


def read_prefix(path: str | Path, n: int) -> bytes:
    """The first ``n`` bytes of a regular file (b"" for anything else)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b""
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""
