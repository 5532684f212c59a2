"""FastAPI dependencies: the process's resources and a session of either database per request."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api_service.resources import Resources
from core_config import Settings


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def general_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """A general-database session for one request, committed when the route succeeds."""
    async with resources.general_db.session() as session:
        yield session


async def user_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """A user-database session for one request, committed when the route succeeds."""
    async with resources.user_db.session() as session:
        yield session


GeneralSession = Annotated[AsyncSession, Depends(general_session)]
UserSession = Annotated[AsyncSession, Depends(user_session)]
