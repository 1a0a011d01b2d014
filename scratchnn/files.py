"""Writing files so that nothing a user made is ever half-written.

Every file scratchnn writes (model files, plots, histories, tuning results,
predictions) goes through ``atomic_write``: the bytes go to a temporary file in
the target's folder, which is then renamed over the target.
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write"]


def atomic_write(path, write) -> None:
    """Call ``write(file_object)`` on a temporary file, then rename it to ``path``.

    The rename is atomic on POSIX and Windows, so readers see either the old
    file or the complete new one, never half of it. If ``write`` raises (or the
    process is interrupted), the temporary file is removed and ``path`` is
    untouched. An ``OSError`` (a full disk, a missing permission) names ``path``.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file readable by its owner only; give the result
        # the permissions an ordinary open() would have (0666 minus the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename in (None, tmp):
            # "[Errno 28] No space left on device" alone does not say which file failed
            raise OSError(exc.errno, exc.strerror or str(exc), path) from exc
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read the umask is to set it
    os.umask(mask)
    return mask
