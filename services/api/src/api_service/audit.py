"""The audit trail: one structured line per act that touches who may do what, on ``api.audit``.

Every line's event is ``audit`` and its ``action`` one of ``Action``, with the fields that say who
(``user_id``, ``token_id``, ``client``) and on what (``credential_id``, ...); the request id is
added to each line as to every other. An operator finds them all with ``logger=api.audit`` (JSON
lines outside a developer's machine) and one kind with ``action=...``. No secret ever goes in: a
token is named by its id, a credential by its id and network, never a key, secret or token.
"""

from enum import StrEnum

from core_config import get_logger

_logger = get_logger("api.audit")


class Action(StrEnum):
    AUTH_REFUSED = "auth.refused"  # status, reason, client, token_id when the token is known
    CREDENTIAL_STORED = "credential.stored"
    CREDENTIAL_DELETED = "credential.deleted"
    SECRET_DECRYPTED = "secret.decrypted"  # noqa: S105 - an action's name; which credential and why
    OPERATOR_REQUEST = "operator.request"  # a route an operator token was accepted for
    OPERATOR_COMMAND = "operator.command"  # an api-admin command that changed something
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 - an action's name


def audit(action: Action, **fields: str | int | bool | None) -> None:
    """Write one audit line: ``audit(Action.CREDENTIAL_DELETED, user_id=7, credential_id=12)``."""
    _logger.info("audit", action=action.value, **fields)
