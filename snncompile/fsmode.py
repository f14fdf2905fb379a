"""Permissions of written artifacts: what open()/mkdir() would give under the umask, for tempfile's 0600/0700."""

from __future__ import annotations

import os
from pathlib import Path


def umask() -> int:
    """The process umask, read without changing it where Linux reports it (/proc/self/status, kernel >= 4.7)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it (briefly) and restore it
    os.umask(mask)
    return mask


def as_created(path: str | os.PathLike[str]) -> None:
    """Give a file or directory made by tempfile.mkstemp / mkdtemp (0600 / 0700) the mode a plain open() or
    mkdir() would have given it: 0666 / 0777 less the umask (0644 / 0755 under umask 022)."""
    base = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, base & ~umask())
