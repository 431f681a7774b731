"""Everyone's own account: change the password, set up two-factor sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import segno
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from models.services.admin import twofactor, users
from models.services.common.errors import ValidationFailed
from web.deps import CurrentActor, DbSession
from web.security import GATE_PASSWORD, CurrentUser, requires_account

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class PasswordForm:
    current: str = ""
    new: str = ""
    confirm: str = ""


@dataclass
class CodeForm:
    code: str = ""


@dataclass
class DisableForm:
    password: str = ""


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code, drawn here (no third-party host)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2))


class AccountController(Controller):
    path = "/account"
    guards = [requires_account]  # pending steps (new password, 2FA) are finished here
    include_in_schema = False

    @get("/")
    async def index(
        self, db_session: DbSession, actor: CurrentActor, request: Request[CurrentUser, Any, Any]
    ) -> Template:
        return await _account_page(db_session, actor, request.user)

    @get("/password")
    async def password_page(
        self, db_session: DbSession, actor: CurrentActor, request: Request[CurrentUser, Any, Any]
    ) -> Template:
        return await _account_page(db_session, actor, request.user)

    @post("/password", status_code=200)
    async def change_password(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        request: Request[CurrentUser, Any, Any],
        data: Annotated[PasswordForm, Form],
    ) -> Response[Any]:
        try:
            await users.change_own_password(
                db_session, actor, current=data.current, new=data.new, confirm=data.confirm
            )
        except ValidationFailed as exc:
            return await _account_page(
                db_session, actor, request.user, errors=exc.fields, status=422
            )
        if request.user.gate == GATE_PASSWORD:
            return Redirect("/board", status_code=303)
        return await _account_page(db_session, actor, request.user, password_saved=True, gate=None)

    @get("/2fa")
    async def enrol_page(self, db_session: DbSession, actor: CurrentActor) -> Response[Any]:
        if (await twofactor.status(db_session, actor)).enabled:
            return Redirect("/account")
        return _enrol_page(await twofactor.enrolment(db_session, actor))

    @post("/2fa", status_code=200)
    async def confirm(
        self, db_session: DbSession, actor: CurrentActor, data: Annotated[CodeForm, Form]
    ) -> Template:
        try:
            codes = await twofactor.confirm(db_session, actor, data.code)
        except ValidationFailed as exc:
            enrolment = await twofactor.enrolment(db_session, actor)
            return _enrol_page(enrolment, errors=exc.fields, status=422)
        return Template("account/recovery_codes.html", context={"codes": codes, "new": True})

    @post("/2fa/recovery-codes", status_code=200)
    async def recovery_codes(self, db_session: DbSession, actor: CurrentActor) -> Template:
        codes = await twofactor.new_recovery_codes(db_session, actor)
        return Template("account/recovery_codes.html", context={"codes": codes})

    @post("/2fa/disable", status_code=200)
    async def disable(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        request: Request[CurrentUser, Any, Any],
        data: Annotated[DisableForm, Form],
    ) -> Template:
        try:
            await twofactor.disable_own(db_session, actor, data.password)
        except ValidationFailed as exc:
            return await _account_page(
                db_session, actor, request.user, disable_errors=exc.fields, status=422
            )
        return await _account_page(db_session, actor, request.user, two_factor_off=True)


async def _account_page(
    db_session: DbSession,
    actor: Any,
    user: CurrentUser,
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    return Template(
        "account/index.html",
        context={
            "two_factor": await twofactor.status(db_session, actor),
            "gate": user.gate,
            "errors": {},
            "disable_errors": {},
            **context,
        },
        status_code=status,
    )


def _enrol_page(enrolment: twofactor.Enrolment, *, status: int = 200, **context: Any) -> Template:
    return Template(
        "account/two_factor.html",
        context={
            "enrolment": enrolment,
            "qr": qr_svg(enrolment.uri),
            "errors": {},
            **context,
        },
        status_code=status,
    )
