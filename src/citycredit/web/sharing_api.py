"""HTTP API v1 for 共享调度: subscriptions and cursor feeds. Parse → one service call → render."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from citycredit.sharing import files
from citycredit.sharing import service as sharing
from citycredit.sharing.model import DEFAULT_PULL, MAX_PULL
from citycredit.web.deps import AuthenticatedDep, ContainerDep
from citycredit.web.params import BIGINT_MAX
from citycredit.web.schemas import sharing as out
from citycredit.web.schemas.common import binary, errors, file_response

router = APIRouter(prefix="/api/v1")


class SubscriptionBody(BaseModel):
    name: str
    items: list[str] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    fields: dict[str, list[str]] = Field(default_factory=dict)
    channel: str = "pull"
    file_format: str = "jsonl"
    purpose: str | None = None
    legal_basis: str | None = None
    personal: str = "none"
    initial_load: bool = True
    department: str | None = None


class StatusBody(BaseModel):
    status: str
    reason: str = ""


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=out.Subscription,
    responses=errors(401, 403, 404, 422),
)
def post_subscription(
    body: SubscriptionBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Subscribe a department to catalog items and/or subjects (initial load included)."""
    return sharing.subscribe(c, actor, sharing.NewSubscription(**body.model_dump()))


@router.get("/subscriptions", response_model=out.SubscriptionList, responses=errors(401, 403, 422))
def get_subscriptions(
    c: ContainerDep, actor: AuthenticatedDep, department: str | None = None
) -> dict[str, Any]:
    """The caller's department's subscriptions (the credit office: all, or one department's)."""
    return {"subscriptions": sharing.list_subscriptions(c, actor, department=department)}


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=out.SubscriptionDetail,
    responses=errors(401, 403, 404, 422),
)
def get_subscription(
    subscription_id: str, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """One subscription with its delivery progress."""
    return sharing.get_subscription(c, actor, subscription_id)


@router.post(
    "/subscriptions/{subscription_id}/status",
    response_model=out.Subscription,
    responses=errors(401, 403, 404, 409, 422),
)
def post_subscription_status(
    subscription_id: str, body: StatusBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Cancel (department or office), suspend or resume (office)."""
    return sharing.change_status(c, actor, subscription_id, body.status, body.reason)


@router.get(
    "/feeds/{subscription_id}",
    response_model=out.FeedPage,
    response_model_exclude_unset=True,  # keys a kind of entry does not carry stay absent
    responses=errors(401, 403, 404, 409, 422),
)
def get_feed(
    subscription_id: str,
    c: ContainerDep,
    actor: AuthenticatedDep,
    after: Annotated[int, Query(ge=0, le=BIGINT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PULL)] = DEFAULT_PULL,
) -> dict[str, Any]:
    """Changes with seq > after: {entries, next_after, has_more}; pass next_after back."""
    return sharing.pull_feed(c, actor, subscription_id, after=after, limit=limit)


@router.get(
    "/feeds/{subscription_id}/files",
    response_model=out.FeedFileList,
    response_model_exclude_unset=True,  # `first_written_at`, `rewritten_at`: rewritten files
    responses=errors(401, 403, 404, 422),
)
def get_feed_files(
    subscription_id: str, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """A file subscription's files: one manifest each (seq range, count, sha256, written at)."""
    return {"subscription": subscription_id, "files": files.list_files(c, actor, subscription_id)}


@router.get(
    "/feeds/{subscription_id}/files/{name}",
    response_class=FileResponse,
    responses={
        **file_response(
            "The data file, or its manifest (`<file>.manifest.json`).",
            {
                "application/x-ndjson": binary("A `jsonl` file: one feed entry per line."),
                "text/csv; charset=utf-8": binary(
                    "A `csv` file (UTF-8 with BOM); `data` and `redacted` as JSON text."
                ),
            },
            model=out.FeedFileManifest,  # application/json: a `.manifest.json`
        ),
        **errors(401, 403, 404, 422),
    },
)
def get_feed_file(
    subscription_id: str, name: str, c: ContainerDep, actor: AuthenticatedDep
) -> FileResponse:
    """Download one data file or its manifest (the subscribing department's token)."""
    path, _manifest = files.read_file(c, actor, subscription_id, name)
    media = (
        "application/json"
        if name.endswith(".json")
        else ("text/csv; charset=utf-8" if name.endswith(".csv") else "application/x-ndjson")
    )
    return FileResponse(path, media_type=media, filename=name)


@router.get(
    "/records/{record_id}/consumers",
    response_model=out.RecordConsumers,
    responses=errors(401, 403, 404, 422),
)
def get_record_consumers(
    record_id: str, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Who received which version of a record, when and how."""
    return sharing.record_consumers(c, actor, record_id)
