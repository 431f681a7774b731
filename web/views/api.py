"""``/api/v1``: other channels (social media, IM, webhooks) register inquiries and read
their status. Authenticated with an API key (``Authorization: Bearer <key>`` or
``X-API-Key``); documented in the OpenAPI schema at ``/schema``. Errors are JSON
(``{"error", "status", "fields"}``), localized by ``Accept-Language``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, Parameter

from models.services.admin import api_keys
from models.services.tickets import intake, messages
from web.deps import DbSession
from web.labels import label

ApiChannel = Literal["api", "social_media", "online_chat", "email", "referral"]
ApiUrgency = Literal["urgent", "normal", "low"]
ApiClientDep = NamedDependency[api_keys.ApiClient]


class InquiryIn(msgspec.Struct, kw_only=True):
    """A customer's inquiry arriving from another channel."""

    name: Annotated[str, msgspec.Meta(description="The customer's name (or company name).")]
    description: Annotated[
        str,
        msgspec.Meta(
            description="What the customer needs, at most KEFU_DESCRIPTION_MAX_LENGTH characters "
            "(default 5000)."
        ),
    ]
    phone: Annotated[
        str | None, msgspec.Meta(description="Phone number; a phone or an email is required.")
    ] = None
    email: Annotated[str | None, msgspec.Meta(description="Email address.")] = None
    order_number: Annotated[str | None, msgspec.Meta(description="Optional order number.")] = None
    channel: Annotated[ApiChannel, msgspec.Meta(description="Where the customer wrote.")] = "api"
    urgency: ApiUrgency = "normal"


class InquiryCreated(msgspec.Struct, kw_only=True):
    number: str
    status: str
    tracking_token: str | None
    tracking_url: str | None
    status_url: str
    replayed: bool


class InquiryStatusOut(msgspec.Struct, kw_only=True):
    number: str
    status: str
    status_label: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None


class MessageIn(msgspec.Struct, kw_only=True):
    """A customer's further message about an inquiry this key registered."""

    text: Annotated[
        str,
        msgspec.Meta(
            description="What the customer wrote, at most KEFU_DESCRIPTION_MAX_LENGTH characters."
        ),
    ]


class MessageAccepted(msgspec.Struct, kw_only=True):
    number: Annotated[
        str,
        msgspec.Meta(
            description="The inquiry now carrying the message: the one posted to, or the new "
            "repeat inquiry when that one was closed."
        ),
    ]
    status: str
    reopened: bool
    repeat_of: str | None
    tracking_token: str | None
    tracking_url: str | None
    status_url: str


class ApiError(msgspec.Struct, kw_only=True):
    error: str
    status: int
    fields: dict[str, str] | None = None


ERRORS = {
    # Our error handler answers malformed requests too: the same JSON shape, not Litestar's.
    400: ResponseSpec(data_container=ApiError, description="Malformed request body or header"),
    401: ResponseSpec(data_container=ApiError, description="Missing, unknown or revoked key"),
    422: ResponseSpec(data_container=ApiError, description="Invalid field values"),
}


async def provide_api_client(
    db_session: DbSession,
    authorization: Annotated[
        str | None, HeaderParameter(name="Authorization", description="Bearer <API key>")
    ] = None,
    x_api_key: Annotated[
        str | None,
        HeaderParameter(name="X-API-Key", description="The API key (instead of Authorization)"),
    ] = None,
) -> api_keys.ApiClient:
    """The calling client; 401 before the handler runs when the key is missing or invalid."""
    raw = api_keys.raw_key_from_headers(authorization, x_api_key)
    return await api_keys.authenticate(db_session, raw)


class InquiryApiController(Controller):
    path = "/api/v1"
    tags = ["inquiries"]
    dependencies = {"api_client": Provide(provide_api_client)}

    @post(
        "/inquiries",
        responses={
            **ERRORS,
            200: ResponseSpec(
                data_container=InquiryCreated,
                description="A replay: the inquiry first registered with this Idempotency-Key",
            ),
            409: ResponseSpec(
                data_container=ApiError, description="Idempotency-Key reused for another inquiry"
            ),
        },
    )
    async def create_inquiry(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        api_client: ApiClientDep,
        data: JSONBody[InquiryIn],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                max_length=200,
                description="Repeat a request with the same key to get the same inquiry back "
                "instead of a duplicate.",
            ),
        ] = None,
    ) -> Response[InquiryCreated]:
        """Register an inquiry: 201 with its number and tracking link (200 on a replay)."""
        result = await intake.register_once(
            db_session,
            api_client.actor,
            intake.InquiryInput(
                description=data.description,
                channel=data.channel,
                name=data.name,
                phone=data.phone,
                email=data.email,
                order_number=data.order_number,
                urgency=data.urgency,
                allowed_channels=intake.API_CHANNELS,
                idempotency_key=intake.idempotency_key(f"api:{api_client.key_id}", idempotency_key),
                require_contact=True,
                with_tracking_link=True,
                api_key_id=api_client.key_id,
                key_reuse_conflicts=True,
                match_names=True,
            ),
        )
        base = str(request.base_url).rstrip("/")
        token = result.tracking_token
        body = InquiryCreated(
            number=result.ticket.number,
            status=str(result.ticket.status),
            tracking_token=token,
            tracking_url=f"{base}/portal/t/{token}" if token else None,
            status_url=f"{base}/api/v1/inquiries/{result.ticket.number}",
            replayed=result.repeated,
        )
        return Response(body, status_code=200 if result.repeated else 201)

    @get(
        "/inquiries/{number:str}",
        responses={
            **ERRORS,
            404: ResponseSpec(
                data_container=ApiError, description="No inquiry with this number for this key"
            ),
        },
    )
    async def inquiry_status(
        self,
        db_session: DbSession,
        api_client: ApiClientDep,
        number: Annotated[
            str,
            Parameter(
                description="The inquiry's number, as returned when it was registered",
                pattern=r"^[A-Za-z0-9-]{1,40}$",
            ),
        ],
    ) -> InquiryStatusOut:
        """The status of an inquiry this API key created."""
        status = await intake.status_for_api(db_session, api_client.key_id, number)
        return InquiryStatusOut(
            number=status.number,
            status=str(status.status),
            status_label=label(status.status),
            created_at=status.created_at,
            updated_at=status.updated_at,
            resolved_at=status.resolved_at,
            closed_at=status.closed_at,
        )

    @post(
        "/inquiries/{number:str}/messages",
        responses={
            **ERRORS,
            404: ResponseSpec(
                data_container=ApiError, description="No inquiry with this number for this key"
            ),
        },
    )
    async def add_message(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        api_client: ApiClientDep,
        number: Annotated[
            str,
            Parameter(
                description="The inquiry's number, as returned when it was registered",
                pattern=r"^[A-Za-z0-9-]{1,40}$",
            ),
        ],
        data: JSONBody[MessageIn],
    ) -> Response[MessageAccepted]:
        """The customer wrote again: 201. The inquiry goes back to work if it was awaiting
        confirmation or completed; a closed one gets a new repeat inquiry (its number and
        tracking link are returned)."""
        landed = await messages.receive_for_api(
            db_session, api_client.actor, api_client.key_id, number, data.text
        )
        base = str(request.base_url).rstrip("/")
        token = landed.tracking_token
        body = MessageAccepted(
            number=landed.ticket.number,
            status=str(landed.ticket.status),
            reopened=landed.reopened,
            repeat_of=landed.repeat_of.number if landed.repeat_of else None,
            tracking_token=token,
            tracking_url=f"{base}/portal/t/{token}" if token else None,
            status_url=f"{base}/api/v1/inquiries/{landed.ticket.number}",
        )
        return Response(body, status_code=201)
