"""One server per data folder. A second ``serve`` on the same SQLite folder would run its start-up recovery on the
first one's running jobs (requeued, then painted and mailed twice) and clear its unfinished results."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO

LOCK_NAME = "server.lock"


class DataFolderInUse(RuntimeError):
    """Another live process holds the data folder."""


def hold_data_folder(folder: Path) -> TextIO:
    """An exclusive lock on ``folder``, held until the returned file is closed or this process ends (even by
    SIGKILL: the kernel lets go of it, so a crash never leaves a stale lock). The file names the holder's pid."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / LOCK_NAME).open("a+", encoding="ascii")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise DataFolderInUse(
            f"the data folder {folder} is in use by another style server (pid {holder}); stop it first, or give "
            "this one its own PORTRAIT_DATA_DIR"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
