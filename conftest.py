"""Fixtures every test in the repository shares, on top of the installed pytest plugins
(db_core's databases, bybit_client's fake Bybit server)."""

import pytest

from core_config import Settings
from db_user import generate_key_file


@pytest.fixture(scope="session")
def test_settings(test_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """db_core's test settings plus a master key file of this run's own (mode 0600)."""
    key_file = tmp_path_factory.mktemp("secrets") / "master.key"
    generate_key_file(key_file)
    return test_settings.model_copy(update={"render_master_key_path": key_file})
