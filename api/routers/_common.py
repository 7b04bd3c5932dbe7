"""What every router shares: the unit of work, pagination parameters, role shorthands."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from api import context
from api.auth import Principal, require_roles
from api.schemas import MAX_PAGE
from dockpatrol.identity import Role


def uow() -> AbstractContextManager[Session]:
    """One transaction for the request: the change and its audit entry commit together."""
    return context.database().unit_of_work()


@dataclass(frozen=True)
class PageParams:
    offset: int
    limit: int


def page_params(offset: Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")] = 0,
                limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")] = 100) -> PageParams:
    return PageParams(offset=offset, limit=limit)


Paging = Annotated[PageParams, Depends(page_params)]
Operator = Annotated[Principal, Depends(require_roles(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require_roles())]
Auditor = Annotated[Principal, Depends(require_roles(Role.OPS_CENTRE))]
