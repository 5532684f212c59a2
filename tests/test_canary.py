"""The canary plugin (``test_support.canary``) sees a watched secret wherever a line carries it: in
the message, in a structured field, in an exception's text."""

import logging
from collections.abc import Callable

from test_support.canary import CANARY_SECRET, CanaryHandler, watch

from core_config import get_logger


def lines_caught(log: Callable[[logging.Logger], None]) -> list[str]:
    handler = CanaryHandler()
    logger = logging.getLogger("tests.canary")
    logger.addHandler(handler)
    logger.propagate = False  # the suite's own canary check stays out of this deliberate leak
    try:
        log(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return handler.leaks


def test_a_secret_in_a_message_a_field_or_an_exception_is_caught() -> None:
    assert lines_caught(lambda logger: logger.warning("sent %s", CANARY_SECRET))
    assert lines_caught(lambda logger: logger.warning("sent", extra={"body": {"secret": CANARY_SECRET}}))

    def exception(logger: logging.Logger) -> None:
        try:
            raise ValueError(f"bad secret {CANARY_SECRET}")
        except ValueError:
            logger.exception("failed")

    assert lines_caught(exception)
    assert not lines_caught(lambda logger: logger.warning("nothing secret here"))


def test_watched_values_and_structlog_fields_are_caught() -> None:
    watch("a-token-the-suite-issued-0123")

    def structured(logger: logging.Logger) -> None:
        get_logger("tests.canary").warning("stored", token="a-token-the-suite-issued-0123")

    assert lines_caught(structured)
