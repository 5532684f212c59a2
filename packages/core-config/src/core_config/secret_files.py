"""Reading secret files (the master key file), with errors that say which setting to fix."""

import stat
from pathlib import Path

from core_config.errors import ConfigError

MASTER_KEY_VARIABLE = "RENDER_MASTER_KEY_PATH"
_MAX_SECRET_FILE_BYTES = 1024 * 1024  # Render's own limit for a Secret File


def read_secret_file(path: Path, *, variable: str = MASTER_KEY_VARIABLE) -> tuple[bytes, int]:
    """Return a secret file's bytes and its permission bits.

    Raises ``ConfigError`` naming ``variable`` when the file is missing, not a regular file,
    unreadable or too large. The file's contents never appear in an error.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError([(variable, f"file {path} does not exist")]) from None
    except OSError as exc:
        raise ConfigError([(variable, f"cannot read {path}: {exc.strerror}")]) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError([(variable, f"{path} is not a regular file")])
    if info.st_size > _MAX_SECRET_FILE_BYTES:
        raise ConfigError([(variable, f"{path} is larger than 1 MiB")])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([(variable, f"cannot read {path}: {exc.strerror}")]) from None
    return data, stat.S_IMODE(info.st_mode)
