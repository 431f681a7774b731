"""The public customer portal (no sign-in): inquiry form with live answers, tracking page.

Works without JavaScript (plain form posts and redirects); htmx adds the answers shown while
typing, in-place form errors and in-place replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Template

from models.services.common import ids
from models.services.common.errors import N_, ValidationFailed
from models.services.tickets import intake, portal
from models.settings import get_settings
from web import i18n
from web.deps import DbSession
from web.views.attachments import file_error, read_form
from web.views.surveys import form_context

Form = Body(media_type=RequestEncodingType.URL_ENCODED)
# The link in the address bar is the customer's key: never leak it, never cache it.
PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass
class PortalForm:
    name: str = ""
    phone: str = ""
    email: str = ""
    description: str = ""
    order_number: str = ""
    form_key: str = ""
    # Honeypot: invisible to people, irresistible to bots.
    website: str = ""


@dataclass
class SolvedForm:
    article_id: str = ""
    description: str = ""


@dataclass
class FindForm:
    number: str = ""
    contact: str = ""


@dataclass
class InfoForm:
    text: str = ""


@dataclass
class ConfirmForm:
    answer: str = ""
    reason: str = ""


ANSWERS = {"solved": True, "not_solved": False}


@dataclass(frozen=True)
class FormView:
    """The inquiry form as rendered: values, per-field errors, and a fresh key."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    form_key: str = field(default_factory=intake.new_form_key)
    max_length: int = field(default_factory=lambda: get_settings().description_max_length)
    # The refused file and why, already translated (it names the file).
    file_error: str = ""


def client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def _form_page(request: HTMXRequest, form: FormView, status: int = 200) -> Template:
    name = "portal/partials/_form.html" if request.htmx else "portal/index.html"
    return Template(name, context={"form": form}, status_code=status)


class PortalController(Controller):
    path = "/portal"
    include_in_schema = False

    @get("/")
    async def index(self, request: HTMXRequest) -> Template:
        return _form_page(request, FormView())

    @post("/", status_code=200)
    async def submit(self, request: HTMXRequest, db_session: DbSession) -> Response[Any]:
        data, uploads = await read_form(request, PortalForm)
        submission = portal.PortalSubmission(
            name=data.name,
            phone=data.phone,
            email=data.email,
            description=data.description,
            order_number=data.order_number,
            form_key=data.form_key,
            honeypot=data.website,
            files=tuple(uploads),
        )
        try:
            receipt = await portal.submit(
                db_session, request.app.state.redis, submission, client_ip=client_ip(request)
            )
        except ValidationFailed as exc:
            values = {k: v for k, v in vars(data).items() if k != "website"}
            form = FormView(
                values=values,
                errors=exc.fields,
                form_key=data.form_key,
                file_error=file_error(exc),
            )
            return _form_page(request, form, status=exc.status_code)
        if receipt.tracking_token is None:
            return Template("portal/received.html", context={"receipt": receipt})
        # The same form sent again (Back, a double click): its first inquiry, said so.
        url = f"/portal/t/{receipt.tracking_token}?new={'again' if receipt.repeated else '1'}"
        return ClientRedirect(url) if request.htmx else Redirect(url, status_code=303)

    @get("/suggest")
    async def suggest(
        self, request: HTMXRequest, db_session: DbSession, description: FromQuery[str] = ""
    ) -> Template:
        found = await portal.suggestions(
            db_session,
            request.app.state.redis,
            description[:2000],
            i18n.get_locale(),
            client_ip=client_ip(request),
            lexical_cache=request.app.state.kb_lexical,
        )
        return Template("portal/partials/_suggestions.html", context={"suggestions": found})

    @get("/a/{article_id:int}")
    async def article(
        self, request: HTMXRequest, db_session: DbSession, article_id: FromPath[int]
    ) -> Template:
        """A suggestion opened in full: in place of the suggestions (htmx) or as a page."""
        found = await portal.article(
            db_session, request.app.state.redis, article_id, client_ip=client_ip(request)
        )
        name = "portal/partials/_article.html" if request.htmx else "portal/article.html"
        return Template(name, context={"article": found, "inline": bool(request.htmx)})

    @post("/solved", status_code=200)
    async def solved(
        self, request: HTMXRequest, db_session: DbSession, data: Annotated[SolvedForm, Form]
    ) -> Template:
        article_id = ids.digits(data.article_id) or 0
        await portal.mark_solved(
            db_session,
            request.app.state.redis,
            article_id,
            data.description,
            i18n.get_locale(),
            client_ip=client_ip(request),
        )
        name = "portal/partials/_solved.html" if request.htmx else "portal/solved.html"
        return Template(name)

    @get("/find")
    async def find_page(self) -> Template:
        return Template("portal/find.html", context={"values": {}, "errors": {}})

    @post("/find", status_code=200)
    async def find(
        self, request: HTMXRequest, db_session: DbSession, data: Annotated[FindForm, Form]
    ) -> Response[Any]:
        """Ticket number + phone or email → its tracking page under a fresh link; a wrong
        contact and an unknown number get the same answer."""
        values = {"number": data.number, "contact": data.contact}
        try:
            token = await portal.find_inquiry(
                db_session,
                request.app.state.redis,
                data.number,
                data.contact,
                client_ip=client_ip(request),
            )
        except ValidationFailed as exc:
            return Template(
                "portal/find.html",
                context={"values": values, "errors": exc.fields},
                status_code=exc.status_code,
            )
        if token is None:
            return Template(
                "portal/find.html",
                context={"values": values, "errors": {}, "not_found": portal.NOT_FOUND},
                status_code=404,
            )
        return Redirect(f"/portal/t/{token}", status_code=303, headers=PRIVATE_HEADERS)

    @get("/t/{token:str}")
    async def track(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        token: FromPath[str],
        new: FromQuery[str] = "",
    ) -> Template:
        view = await portal.tracking(db_session, token)
        survey = form_context(view.survey_path, {}) if view.survey_path else {}
        return Template(
            "portal/tracking.html",
            headers=PRIVATE_HEADERS,
            context={
                **survey,
                "view": view,
                "token": token,
                "just_created": new in ("1", "again"),
                "already_received": new == "again",
                "link": f"{str(request.base_url).rstrip('/')}/portal/t/{token}",
            },
        )

    @post("/t/{token:str}/confirm", status_code=200)
    async def confirm(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        token: FromPath[str],
        data: Annotated[ConfirmForm, Form],
    ) -> Response[Any]:
        """The customer's "solved" / "not solved" on the proposed solution."""
        if data.answer not in ANSWERS:
            raise ValidationFailed(
                N_("Please correct the highlighted fields."),
                fields={"answer": N_("Invalid value.")},
            )
        await portal.confirm(
            db_session,
            request.app.state.redis,
            token,
            solved=ANSWERS[data.answer],
            reason=data.reason,
            client_ip=client_ip(request),
        )
        url = f"/portal/t/{token}"
        if request.htmx:
            return ClientRedirect(url)
        return Redirect(url, status_code=303, headers=PRIVATE_HEADERS)

    @post("/t/{token:str}/info", status_code=200)
    async def add_information(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        token: FromPath[str],
        data: Annotated[InfoForm, Form],
    ) -> Response[Any]:
        view = await portal.add_information(
            db_session, request.app.state.redis, token, data.text, client_ip=client_ip(request)
        )
        if request.htmx:
            return Template(
                "portal/partials/_thread.html",
                headers=PRIVATE_HEADERS,
                context={"view": view, "token": token},
            )
        # A message on a closed inquiry opened a new one: its own page, with its link.
        target = f"/portal/t/{view.new_inquiry.token}?new=1" if view.new_inquiry else None
        return Redirect(target or f"/portal/t/{token}", status_code=303, headers=PRIVATE_HEADERS)
