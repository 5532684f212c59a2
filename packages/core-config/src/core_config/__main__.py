"""``python -m core_config``: validate the settings and print them with secrets masked."""

from pydantic import SecretStr

from core_config.errors import exit_on_config_error
from core_config.settings import get_settings
from core_config.urls import mask_password


def main() -> None:
    with exit_on_config_error():
        settings = get_settings()
    for name, value in settings.model_dump().items():
        print(f"{name.upper()}={_as_variable(value)}")


def _as_variable(value: object) -> str:
    """A setting as its variable would be written (comma lists, nothing for None), secrets masked."""
    if isinstance(value, SecretStr):
        return mask_password(value.get_secret_value())
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


if __name__ == "__main__":
    main()
