"""Model cards, dashboard statistics and signed object downloads."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api import context
from api.auth import CurrentPrincipal
from api.routers._common import uow
from api.schemas import NOT_FOUND, PROBLEMS, Problem
from dockpatrol.errors import Forbidden, NotFound

router = APIRouter(tags=["platform"], responses=PROBLEMS)


class ModelOut(BaseModel):
    name: str
    version: str
    input_size_px: int
    categories: list[str]
    classes: list[str] = Field(description="taxonomy classes the model detects")
    weights_present: bool
    synthetic_training_data: bool
    description: str
    map50: float | None = Field(None, description="held-out mAP50 from the card, when it reports one")
    error: str | None = Field(None, description="why the card is invalid, when it is")


@router.get("/api/models", response_model=list[ModelOut], summary="Detector model cards")
def list_models(_: CurrentPrincipal) -> list[ModelOut]:
    from dockpatrol.errors import InvalidInput
    from vision.registry import card_paths, load_card

    out = []
    for path in card_paths(None):
        try:
            card = load_card(path)
        except InvalidInput as exc:
            out.append(ModelOut(name=path.name, version="-", input_size_px=0, categories=[], classes=[],
                                weights_present=False, synthetic_training_data=False, description="",
                                error=str(exc)))
            continue
        map50 = card.metrics.get("map50_mean")
        out.append(ModelOut(
            name=card.name, version=card.version, input_size_px=card.input_size_px,
            categories=sorted(str(c) for c in card.categories), classes=list(card.taxonomy_classes),
            weights_present=card.weights_path.is_file(), synthetic_training_data=card.synthetic_training_data,
            description=card.description,
            map50=float(map50) if isinstance(map50, int | float) and math.isfinite(map50) else None))
    return out


@router.get("/api/stats", summary="Counts for the dashboard")
def stats(_: CurrentPrincipal) -> dict[str, Any]:
    from storage.repositories import queries

    with uow() as session:
        return queries.counts(session=session)


@router.get("/api/objects/{key:path}", tags=["objects"], summary="Download through a signed link",
            responses={**NOT_FOUND, 403: {"description": "bad or expired link", "model": Problem}},
            response_class=Response)
def get_object(key: str, expires: Annotated[int, Query(ge=0, le=2**40)],
               signature: Annotated[str, Query(max_length=200)]) -> Response:
    """The signature is the credential here (images in the console cannot send a bearer header):
    a link is valid for at most an hour and only for the key it was made for."""
    from storage.objects import LocalObjectStore

    store = context.object_store()
    if not isinstance(store, LocalObjectStore):
        raise NotFound("objects are served by the S3 endpoint; ask for a presigned URL")
    if not store.verify_signature(key, expires, signature):
        raise Forbidden("the link is invalid or has expired; request a new one")
    info = store.stat(key)
    return Response(store.get(key), media_type=info.content_type,
                    headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"})
