"""The README's settings table and `.env.example` are what `make settings-docs` writes from
core_config.Settings: a setting added, renamed or redescribed without them fails here."""

import subprocess
import sys
from pathlib import Path

from core_config import Settings

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "settings_docs.py"


def test_every_setting_says_what_it_is_for() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_the_readme_table_and_env_example_match_the_settings() -> None:
    done = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in readme, name
        assert f"{name.upper()}=" in example, name
