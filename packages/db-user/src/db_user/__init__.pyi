"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .audit import (
    SYSTEM_ACTOR,
    Actor,
    list_audit,
    record_audit,
    token_actor,
)
from .credentials import (
    credential_key_ids,
    delete_bybit_credential,
    get_bybit_credential,
    list_bybit_credentials,
    save_bybit_credential,
)
from .halts import (
    active_halt,
    halt_trading,
    halted_credentials,
    halts_in_force,
    lift_halt,
)
from .key_fitness import (
    funds_refusal,
    trading_refusal,
)
from .master_keys import (
    MasterKey,
    MasterKeyRing,
    add_primary_key,
    generate_key_file,
    load_master_keys,
    remove_key,
)
from .models import (
    ApiToken,
    AuditEvent,
    BybitCredential,
    Execution,
    Halt,
    Order,
    OrderEvent,
    User,
    UserBase,
)
from .order_states import (
    OrderState,
)
from .orders import (
    Fill,
    NewOrder,
    OrderUpdate,
    claim_unresolved_orders,
    forget_unsent_order,
    get_order,
    list_executions,
    list_orders,
    move_order,
    order_by_key,
    order_events,
    order_link_id_for,
    postpone_order,
    record_executions,
    record_send,
    store_pending_order,
)
from .rotation import (
    RotationReport,
    rotate_credentials,
)
from .scopes import (
    TokenScope,
)
from .spec import (
    USER_DB,
)
from .tokens import (
    add_api_token,
    find_active_token,
    list_api_tokens,
    revoke_api_token,
    token_id_for,
)
from .users import (
    EmailTakenError,
    create_user,
    disable_user,
    get_user,
    get_user_by_email,
)
from .vault import (
    CredentialContext,
    Sealed,
    Vault,
    VaultError,
)

__all__ = [
    "SYSTEM_ACTOR",
    "USER_DB",
    "Actor",
    "ApiToken",
    "AuditEvent",
    "BybitCredential",
    "CredentialContext",
    "EmailTakenError",
    "Execution",
    "Fill",
    "Halt",
    "MasterKey",
    "MasterKeyRing",
    "NewOrder",
    "Order",
    "OrderEvent",
    "OrderState",
    "OrderUpdate",
    "RotationReport",
    "Sealed",
    "TokenScope",
    "User",
    "UserBase",
    "Vault",
    "VaultError",
    "active_halt",
    "add_api_token",
    "add_primary_key",
    "claim_unresolved_orders",
    "create_user",
    "credential_key_ids",
    "delete_bybit_credential",
    "disable_user",
    "find_active_token",
    "forget_unsent_order",
    "funds_refusal",
    "generate_key_file",
    "get_bybit_credential",
    "get_order",
    "get_user",
    "get_user_by_email",
    "halt_trading",
    "halted_credentials",
    "halts_in_force",
    "lift_halt",
    "list_api_tokens",
    "list_audit",
    "list_bybit_credentials",
    "list_executions",
    "list_orders",
    "load_master_keys",
    "move_order",
    "order_by_key",
    "order_events",
    "order_link_id_for",
    "postpone_order",
    "record_audit",
    "record_executions",
    "record_send",
    "remove_key",
    "revoke_api_token",
    "rotate_credentials",
    "save_bybit_credential",
    "store_pending_order",
    "token_actor",
    "token_id_for",
    "trading_refusal",
]
