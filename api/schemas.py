"""Shared API schemas: problem+json, pages, strict input models (finite numbers, no unknown fields)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_PAGE = 500
ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"


class StrictIn(BaseModel):
    """Input bodies: NaN and ±inf are refused everywhere, and so are fields the API does not know."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")


class Problem(BaseModel):
    """An RFC 9457 problem: every error the API returns has this shape (application/problem+json)."""

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    detail: str = Field(examples=["dock 'D1' already exists"])
    instance: str | None = Field(None, examples=["/api/docks"])
    errors: list[dict[str, Any]] | None = Field(None, description="per-field messages of a 422")
    incident: str | None = Field(None, description="id to quote when reporting a 500")


class Page(BaseModel, Generic[T]):
    """One page of a list; ``total`` counts every match, not only this page."""

    items: list[T]
    total: int = Field(examples=[1])
    offset: int = Field(examples=[0])
    limit: int = Field(examples=[100])


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


#: Error responses every authenticated route can give, documented once.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _problem("no token, or an invalid or expired one"),
    403: _problem("the caller's role or department does not allow this"),
    413: _problem("the request body is larger than the API accepts"),
    422: _problem("the input is invalid; `errors` names each field"),
    429: _problem("rate limited; see Retry-After"),
    500: _problem("unexpected error; quote `incident`"),
}
NOT_FOUND = {404: _problem("no such resource")}
CONFLICT = {409: _problem("the id exists already, or the state does not allow this")}
