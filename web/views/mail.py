"""The email channel on the web: the admin's mailboxes and quarantine (/admin/mail), and the
reply form in the ticket drawer (/mail/tickets/<id>)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from models.mailbox import MailSecurity
from models.services.mail import inbound, mailboxes, outbound
from web.deps import CurrentActor, DbSession
from web.forms import Form, parse_id
from web.security import requires_admin, requires_staff
from web.views.tickets import render_drawer


@dataclass
class MailboxForm:
    name: str = ""
    address: str = ""
    imap_host: str = ""
    imap_port: str = "993"
    imap_security: str = MailSecurity.SSL.value
    imap_user: str = ""
    imap_password: str = ""
    folder: str = "INBOX"
    smtp_host: str = ""
    smtp_port: str = "465"
    smtp_security: str = MailSecurity.SSL.value
    smtp_user: str = ""
    smtp_password: str = ""
    enabled: str = ""
    department_id: str = ""

    def to_input(self) -> mailboxes.MailboxInput:
        """The service's input: the same fields, the checkbox and the department parsed."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["enabled"] = bool(self.enabled)
        values["department_id"] = parse_id(self.department_id, "department_id", required=False)
        return mailboxes.MailboxInput(**values)


@dataclass
class ReplyForm:
    text: str = ""


class MailAdminController(Controller):
    path = "/admin/mail"
    guards = [requires_admin]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession, actor: CurrentActor) -> Template:
        view = await mailboxes.admin_view(db_session, actor)
        return Template("mail/admin.html", context={"v": view, "form": mailboxes.form_for(None)})

    @post("/mailboxes")
    async def create(
        self, db_session: DbSession, actor: CurrentActor, data: Annotated[MailboxForm, Form]
    ) -> Redirect:
        await mailboxes.create(db_session, actor, data.to_input())
        return Redirect("/admin/mail")

    @get("/mailboxes/{mailbox_id:int}")
    async def edit(
        self, db_session: DbSession, actor: CurrentActor, mailbox_id: FromPath[int]
    ) -> Template:
        mailboxes.ensure_admin(actor)
        mailbox = await mailboxes.get(db_session, mailbox_id)
        view = await mailboxes.admin_view(db_session, actor)
        return Template(
            "mail/mailbox.html",
            context={"v": view, "mailbox": mailbox, "form": mailboxes.form_for(mailbox)},
        )

    @post("/mailboxes/{mailbox_id:int}")
    async def update(
        self,
        db_session: DbSession,
        actor: CurrentActor,
        mailbox_id: FromPath[int],
        data: Annotated[MailboxForm, Form],
    ) -> Redirect:
        await mailboxes.update(db_session, actor, mailbox_id, data.to_input())
        return Redirect("/admin/mail")

    @post("/mailboxes/{mailbox_id:int}/test", status_code=200)
    async def test(
        self, db_session: DbSession, actor: CurrentActor, mailbox_id: FromPath[int]
    ) -> Template:
        result = await mailboxes.test_connection(db_session, actor, mailbox_id)
        mailbox = await mailboxes.get(db_session, mailbox_id)
        return Template(
            "mail/partials/_test_result.html", context={"result": result, "mailbox": mailbox}
        )

    @post("/quarantine/{message_id:int}/release")
    async def release(
        self, db_session: DbSession, actor: CurrentActor, message_id: FromPath[int]
    ) -> Redirect:
        await inbound.release(db_session, actor, message_id)
        return Redirect("/admin/mail")

    @post("/quarantine/{message_id:int}/delete")
    async def delete(
        self, db_session: DbSession, actor: CurrentActor, message_id: FromPath[int]
    ) -> Redirect:
        await inbound.delete(db_session, actor, message_id)
        return Redirect("/admin/mail")


class TicketMailController(Controller):
    path = "/mail/tickets"
    guards = [requires_staff]
    include_in_schema = False

    @get("/{ticket_id:int}")
    async def panel(
        self, db_session: DbSession, actor: CurrentActor, ticket_id: FromPath[int]
    ) -> Template:
        panel = await outbound.ticket_panel(db_session, actor, ticket_id)
        return Template("mail/partials/_panel.html", context={"p": panel})

    @post("/{ticket_id:int}/reply", status_code=200)
    async def reply(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        data: Annotated[ReplyForm, Form],
    ) -> Response[Any]:
        await outbound.queue_reply(db_session, actor, ticket_id, data.text)
        if not request.htmx:
            return Redirect(f"/tickets/{ticket_id}")
        panel = await outbound.ticket_panel(db_session, actor, ticket_id)
        return Template("mail/partials/_panel.html", context={"p": panel, "sent": True})

    @post("/{ticket_id:int}/outgoing/{mail_id:int}/retry", status_code=200)
    async def retry(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        ticket_id: FromPath[int],
        mail_id: FromPath[int],
    ) -> Response[Any]:
        """Send a failed reply again; the drawer comes back showing it queued."""
        await outbound.retry(db_session, actor, ticket_id, mail_id)
        if not request.htmx:
            return Redirect(f"/tickets/{ticket_id}")
        return await render_drawer(request, db_session, actor, ticket_id)
