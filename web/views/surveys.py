"""The public satisfaction survey (record 4): ``/survey/<token>``, no sign-in needed.

A link that is unknown, already answered or expired shows a friendly page with the matching
status (404 / 409 / 410) instead of the staff error page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Template

from models.services.common.errors import N_, Conflict, DomainError, NotFound, ValidationFailed
from models.services.tickets import surveys
from web.deps import DbSession
from web.i18n import gettext


@dataclass
class SurveyForm:
    speed: str = ""
    solution: str = ""
    attitude: str = ""
    comment: str = ""
    suggestion: str = ""
    contact: str = ""


def closed_page(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Unknown (404), answered (409) or expired (410) link: a page the customer understands."""
    return Template(
        "surveys/closed.html",
        context={
            "message": gettext(exc.message, **exc.params),
            "status": exc.status_code,
            "answered": isinstance(exc, Conflict),
        },
        status_code=exc.status_code,
    )


def form_context(
    action: str, values: dict[str, str], errors: dict[str, str] | None = None
) -> dict[str, Any]:
    """What the survey form needs (the survey page, and the portal's tracking page inline)."""
    return {
        "survey_action": action,
        "values": values,
        "errors": {name: gettext(text) for name, text in (errors or {}).items()},
        "dimensions": [
            ("speed", N_("Response speed")),
            ("solution", N_("Solution")),
            ("attitude", N_("Service attitude")),
        ],
        "scores": surveys.SCORES,
        "text_max": surveys.TEXT_MAX,
        "contact_max": surveys.CONTACT_MAX,
    }


def _form(
    view: surveys.SurveyView,
    token: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "survey": view,
        "token": token,
        **form_context(surveys.path_for(token), values, errors),
    }


class SurveyController(Controller):
    path = "/survey"
    include_in_schema = False
    exception_handlers = {
        NotFound: closed_page,
        Conflict: closed_page,
        surveys.SurveyExpired: closed_page,
    }

    @get("/{token:str}")
    async def show(self, db_session: DbSession, token: FromPath[str]) -> Template:
        view = await surveys.open_survey(db_session, token)
        return Template("surveys/form.html", context=_form(view, token, {}))

    @post("/{token:str}")
    async def submit(
        self,
        db_session: DbSession,
        token: FromPath[str],
        data: Annotated[SurveyForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        values = asdict(data)
        try:
            answer = surveys.parse_answer(surveys.AnswerInput(**values))
        except ValidationFailed as exc:  # show the form again, as typed, with the problems
            view = await surveys.open_survey(db_session, token)
            return Template(
                "surveys/form.html",
                status_code=exc.status_code,
                context={**_form(view, token, values, exc.fields), "message": gettext(exc.message)},
            )
        await surveys.submit(db_session, token, answer)
        return Template("surveys/thanks.html", context={})
