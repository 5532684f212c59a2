"""``python -m core_config``: validate the settings and print them with secrets masked."""

from pydantic import SecretStr

from core_config.errors import exit_on_config_error
from core_config.settings import get_settings
from core_config.urls import mask_password


def main() -> None:
    with exit_on_config_error():
        settings = get_settings()
    for name, value in settings.model_dump().items():
        shown = mask_password(value.get_secret_value()) if isinstance(value, SecretStr) else value
        print(f"{name.upper()}={shown}")


if __name__ == "__main__":
    main()
