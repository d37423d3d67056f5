"""Checks that a path written in the config can name a file or directory at all, so that an
unusable one (a NUL, too long, `~user` for an unknown user, a directory under a file) is
refused naming its config key instead of ending the plan with a traceback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Linux's limits on a file name and on a whole path, in bytes (NAME_MAX, PATH_MAX).
NAME_MAX, PATH_MAX = 255, 4096


def path_problem(text: str) -> str | None:
    """Why `text` cannot name a local path at all, if it cannot (the OS would raise)."""
    if "\x00" in text:
        return "holds a NUL character"
    try:
        path = Path(text).expanduser()
    except RuntimeError:
        return "starts with '~user' for a user this machine does not know"
    if len(os.fsencode(path)) >= PATH_MAX or any(
        len(os.fsencode(part)) > NAME_MAX for part in path.parts
    ):
        return f"is longer than file systems allow ({NAME_MAX} bytes a name, {PATH_MAX} a path)"
    return None


# What a path that is no regular file is, for messages (`file_problem`).
_FILE_KINDS = (
    (stat.S_ISDIR, "is a directory, not a file"),
    (stat.S_ISFIFO, "is a FIFO (a named pipe), not a file"),
    (stat.S_ISCHR, "is a character device, not a file"),
    (stat.S_ISBLK, "is a block device, not a file"),
    (stat.S_ISSOCK, "is a socket, not a file"),
)


def file_problem(text: str, *, expand_user: bool = False) -> str | None:
    """Why `text` names no regular file, if it does not: it cannot be a path, does not exist,
    or is a directory, FIFO, device or socket (told apart by `stat`, which never opens it: a
    FIFO would block its reader until something writes to it)."""
    if problem := path_problem(text):
        return problem
    path = Path(text).expanduser() if expand_user else Path(text)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "does not exist"
    except OSError as error:
        return f"cannot be looked at: {error.strerror}"
    if stat.S_ISREG(mode):
        return None
    return next((what for is_kind, what in _FILE_KINDS if is_kind(mode)), "is not a file")


def is_file(text: str, *, expand_user: bool = False) -> bool:
    """Whether `text` (with `~` expanded, if asked) names an existing regular file."""
    if path_problem(text) is not None:
        return False
    path = Path(text).expanduser() if expand_user else Path(text)
    return path.is_file()


def directory_problem(text: str) -> str | None:
    """Why `text` cannot be a directory this run creates or uses, if it cannot."""
    if problem := path_problem(text):
        return problem
    path = Path(text).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"cannot be a directory: '{existing}' is a file"
    return None
