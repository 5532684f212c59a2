"""Loading the master key file: every way it can be wrong stops with one line, keys never shown."""

import base64
import json
import logging
from pathlib import Path

import pytest

from core_config import ConfigError
from db_user import generate_key_file, load_master_keys

GOOD = base64.urlsafe_b64encode(b"k" * 32).decode()


def write(path: Path, content: str, mode: int = 0o600) -> Path:
    path.write_text(content)
    path.chmod(mode)
    return path


def test_generated_file_is_private_and_valid(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "master.key"
    key_id = generate_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    ring = load_master_keys(path, strict_permissions=True)
    assert ring.primary_id == key_id
    assert len(ring.primary.material) == 32
    with pytest.raises(ConfigError, match="already exists"):
        generate_key_file(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "is not a JSON master key file"),
        ('{"primary": "a"}', 'has no "keys" object'),
        ('{"primary": "a", "keys": {}}', "holds no key"),
        (
            json.dumps({"primary": "a", "keys": {"a": base64.urlsafe_b64encode(b"short").decode()}}),
            "is 5 bytes, not 32",
        ),
        (json.dumps({"primary": "a", "keys": {"a": "!!!"}}), "is not base64url"),
        (json.dumps({"primary": "b", "keys": {"a": GOOD}}), '"primary" must name one of its keys'),
        (json.dumps({"primary": "a", "keys": {"a b": GOOD}}), "is not 1-64 letters"),
        ('{"primary": "a", "keys": {"a": "' + GOOD + '", "a": "' + GOOD + '"}}', "appears twice"),
    ],
)
def test_bad_key_files_are_refused_with_one_line(tmp_path: Path, content: str, problem: str) -> None:
    path = write(tmp_path / "master.key", content)
    with pytest.raises(ConfigError) as caught:
        load_master_keys(path, strict_permissions=True)
    (line,) = caught.value.lines()
    assert line.startswith("RENDER_MASTER_KEY_PATH: ")
    assert problem in line
    assert GOOD not in line


def test_group_readable_file_refused_when_strict_warned_otherwise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "master.key", json.dumps({"primary": "a", "keys": {"a": GOOD}}), mode=0o640)
    with pytest.raises(ConfigError, match="readable by group or others"):
        load_master_keys(path, strict_permissions=True)
    with caplog.at_level(logging.WARNING):
        assert load_master_keys(path, strict_permissions=False).primary_id == "a"
    assert "chmod 600" in caplog.text
    assert GOOD not in caplog.text


def test_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"RENDER_MASTER_KEY_PATH: file .* does not exist"):
        load_master_keys(tmp_path / "absent.key", strict_permissions=True)
