"""The check an order route makes before anything is sent: is the caller's trading halted?

``TradingAllowed`` is a route parameter (a dependency): with a halt in force for everyone or for
the caller (``db_user.active_halt``) the request is answered 423 ``trading_halted`` and the route
body never runs. The halt's reason is the operator's and is not shown.
"""

from typing import Annotated

from fastapi import Depends

from api_service.dependencies import CurrentUser, UserSession
from api_service.errors import ApiError
from db_user import active_halt

HALTED_STATUS = 423


async def trading_allowed(user: CurrentUser, session: UserSession) -> None:
    """Nothing when ``user`` may trade; 423 ``trading_halted`` while a halt stops them."""
    halt = await active_halt(session, user.id)
    if halt is not None:
        whom = "for everyone" if halt.user_id is None else "for your account"
        message = (
            f"trading is halted {whom} since {halt.created_at:%Y-%m-%d %H:%M:%S} UTC by the operator; "
            "no order is sent until it is lifted"
        )
        raise ApiError(HALTED_STATUS, "trading_halted", message)


TradingAllowed = Annotated[None, Depends(trading_allowed)]
