"""Reading the master key file: clear errors for every way the file can be wrong."""

from pathlib import Path

import pytest

from core_config import ConfigError, read_secret_file


def test_reads_bytes_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"key material")
    path.chmod(0o600)
    assert read_secret_file(path) == (b"key material", 0o600)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_secret_file(tmp_path / "absent.key")
    assert caught.value.lines() == [f"RENDER_MASTER_KEY_PATH: file {tmp_path}/absent.key does not exist"]


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a regular file"):
        read_secret_file(tmp_path)
