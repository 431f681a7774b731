"""Route handlers, grouped by area; each group carries its own guard."""

from typing import Any

from web.views.accounts import AccountController
from web.views.admin import AdminController
from web.views.api import InquiryApiController
from web.views.assets import ROUTES as ASSET_ROUTES
from web.views.assignment import AssignmentController, DutyController
from web.views.attachments import (
    AttachmentController,
    TicketAttachmentController,
    TrackingAttachmentController,
)
from web.views.auth import ROUTES as AUTH_ROUTES
from web.views.board import BoardController
from web.views.chat import ROUTES as CHAT_ROUTES
from web.views.chat_admin import ChatWidgetAdminController
from web.views.chat_inbox import ChatInboxController
from web.views.customers import CustomerController
from web.views.events import ROUTES as EVENT_ROUTES
from web.views.exports import ExportController
from web.views.extensions import SlaTicketController
from web.views.intake import IntakeController
from web.views.kb import (
    KnowledgeBaseAuthoringController,
    KnowledgeBaseController,
    TicketSuggestionsController,
)
from web.views.mail import MailAdminController, TicketMailController
from web.views.models import ModelsController
from web.views.notifications import NotificationController
from web.views.portal import PortalController
from web.views.replies import RepliesController
from web.views.reports import ReportController
from web.views.review import ReviewController
from web.views.sla_admin import SlaAdminController
from web.views.surveys import SurveyController
from web.views.tickets import TicketController

ROUTE_HANDLERS: list[Any] = [
    *AUTH_ROUTES,
    BoardController,
    *EVENT_ROUTES,
    TicketController,
    TicketAttachmentController,
    AttachmentController,
    CustomerController,
    IntakeController,
    PortalController,
    TrackingAttachmentController,
    InquiryApiController,
    KnowledgeBaseController,
    KnowledgeBaseAuthoringController,
    TicketSuggestionsController,
    ReviewController,
    ModelsController,
    ReportController,
    ExportController,
    SurveyController,
    AdminController,
    AccountController,
    SlaAdminController,
    AssignmentController,
    DutyController,
    SlaTicketController,
    NotificationController,
    MailAdminController,
    TicketMailController,
    RepliesController,
    *CHAT_ROUTES,
    *ASSET_ROUTES,
    ChatInboxController,
    ChatWidgetAdminController,
]
