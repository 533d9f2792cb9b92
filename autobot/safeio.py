"""Bounded reads of user files: a document, a data file or an edit during a live run is untrusted.

Every read checks the file type and size first (a FIFO, a device such as ``/dev/zero`` or a folder
is refused before it is opened, so nothing hangs), then reads at most the limit; a gzip file is
decompressed up to the limit too (a 14 MB gzip bomb stops at the limit, not at 8 GB).
"""

from __future__ import annotations

import io
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


#: paths a command may stream its output into although they are not regular files: an open pipe
#: or terminal (``--json /dev/stdout``, a shell's ``>(jq .)``) and character devices (``/dev/null``)
_STREAM_PREFIXES = ("/dev/", "/proc/self/fd/")


def output_problem(path: str | Path, folder: bool = False, stream_ok: bool = True,
                   example: str = "results.json") -> tuple[str, str] | None:
    """Why a command's output could not be written at ``path`` (checked before the run, so hours of
    work are not lost on a typo): ``(reason, hint)``, or None when it can. ``folder``: the output
    is a folder (created with its parents when missing). ``stream_ok``: a character device or an
    open pipe under /dev is accepted (not for a file that is read back, such as a study journal);
    a named pipe elsewhere never is (opening it would wait for a reader)."""
    text = str(path)
    if text.strip() in ("", "."):
        return ("is empty (or '.', the current folder)" if not folder else "is empty",
                f"give a file name, e.g. {example}" if not folder else "give a folder, e.g. schema")
    p = Path(text)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:                  # ELOOP, ENOTDIR, EACCES...
        import errno
        if exc.errno == errno.ENOTDIR:
            blocker = next((q for q in p.absolute().parents if os.path.lexists(q) and not q.is_dir()), None)
            if blocker is not None:
                return f"cannot be created: {blocker} is a file, not a folder", "choose another path"
        if exc.errno == errno.ELOOP:
            return "goes through a symbolic link loop", "fix or remove the link, or choose another path"
        return f"cannot be used ({exc.strerror or exc})", "check the path"
    if st is None:
        if p.is_symlink():                  # a link to a file yet to be written: the link's target counts
            p = Path(os.path.realpath(p))
        if folder:                          # created with its parents: an existing part must be a folder
            for parent in p.absolute().parents:
                if parent.exists():
                    if not parent.is_dir():
                        return f"cannot be created: {parent} is not a folder", "choose another folder"
                    if not os.access(parent, os.W_OK):
                        return f"cannot be created in {parent} (permission denied)", "choose another folder"
                    return None
            return None
        parent = p.absolute().parent
        if not parent.exists():
            return f"is in a folder that does not exist ({parent})", \
                f"create the folder first (mkdir -p {parent}) or choose another path"
        if not parent.is_dir():
            return f"cannot be created: {parent} is not a folder", "choose another path"
        if not os.access(parent, os.W_OK):
            return f"cannot be created in {parent} (permission denied)", "choose a folder you can write to"
        return None
    mode = st.st_mode
    if folder:
        if not stat.S_ISDIR(mode):
            return "is not a folder", "give a folder to write the files into"
        if not os.access(p, os.W_OK):
            return "is a folder you cannot write to (permission denied)", "choose another folder"
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file", f"give a file name inside it, e.g. {p / example}"
    if stat.S_ISREG(mode):
        if not os.access(p, os.W_OK) or not mode & 0o222:
            return "is read-only", f"make it writable (chmod u+w {p}) or choose another path"
        return None
    streamable = stream_ok and text.startswith(_STREAM_PREFIXES)
    if stat.S_ISFIFO(mode):
        if not streamable:
            return "is a FIFO (named pipe), not a file", ("write to a regular file and read it when the command ends"
                                                          if stream_ok else "give a regular file")
        return None
    if stat.S_ISCHR(mode) and stream_ok:
        return None                         # /dev/null; /dev/full fails when written, and says so then
    return "is not a regular file", "give a regular file"


def open_output(path: str | Path, newline: str | None = None) -> io.TextIOWrapper:
    """``path`` opened for writing text (created or truncated). A pipe with no reader fails at once
    (ENXIO) instead of waiting forever; write errors (a full disk, ``/dev/full``) raise ``OSError``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, 0o666)
    try:
        os.set_blocking(fd, True)
        return io.open(fd, "w", encoding="utf-8", newline=newline)
    except BaseException:
        os.close(fd)
        raise


def write_text_out(path: str | Path, text: str) -> None:
    """Write a command's output file (see :func:`open_output`); raises ``OSError`` when it cannot."""
    with open_output(path) as fh:
        fh.write(text)
