"""The domain rows. Rules over them live in :mod:`models.services`."""

from models import report_days  # noqa: F401  (its flush listener notes the reports' days)
from models.api_key import ApiKey
from models.article import Article
from models.assignment_settings import AssignmentSettings
from models.attachment import Attachment
from models.audit import AuditEvent
from models.base import Base, utcnow
from models.board_view import BoardView
from models.chat_conversation import ChatConversation
from models.chat_message import ChatMessage
from models.chat_widget import ChatWidget
from models.customer import Customer
from models.department import Department
from models.extension import ExtensionRequest
from models.followup import FollowUp
from models.kpi_target import KpiTarget
from models.label import Label
from models.macro import Macro
from models.mail_message import MailDirection, MailMessage, MailStatus
from models.mailbox import Mailbox, MailSecurity
from models.model_version import ModelVersion
from models.notification import Notification
from models.notification_delivery import DeliveryStatus, NotificationDelivery
from models.notification_preference import DeliveryChannel, NotificationPreference
from models.quick_reply import QuickReply, ReplyLanguage, ReplyScope
from models.routing import RoutingRule
from models.search_index import (
    CustomerSearchText,
    TicketSearchText,
    customer_search_terms,
    ticket_search_terms,
)
from models.sequence import Sequence
from models.sign_in_failure import SignInFailure
from models.site_setting import SiteSetting
from models.sla_action import SlaAction
from models.sla_policy import BusinessCalendar, SlaPolicy
from models.suggestion import Deflection, TicketSuggestion
from models.survey import Survey
from models.ticket import Ticket, ticket_collaborators
from models.ticket_count import TicketCount, TicketCountChange, TicketDueCount
from models.ticket_embedding import TicketEmbedding
from models.user import User
from models.user_session import UserSession
from models.wecom_account import WeComAccount

__all__ = [
    "ApiKey",
    "Article",
    "AssignmentSettings",
    "Attachment",
    "AuditEvent",
    "Base",
    "BoardView",
    "BusinessCalendar",
    "ChatConversation",
    "ChatMessage",
    "ChatWidget",
    "Customer",
    "CustomerSearchText",
    "Deflection",
    "DeliveryChannel",
    "DeliveryStatus",
    "Department",
    "ExtensionRequest",
    "FollowUp",
    "KpiTarget",
    "Label",
    "Macro",
    "MailDirection",
    "MailMessage",
    "MailSecurity",
    "MailStatus",
    "Mailbox",
    "ModelVersion",
    "Notification",
    "NotificationDelivery",
    "NotificationPreference",
    "QuickReply",
    "ReplyLanguage",
    "ReplyScope",
    "RoutingRule",
    "Sequence",
    "SignInFailure",
    "SiteSetting",
    "SlaAction",
    "SlaPolicy",
    "Survey",
    "Ticket",
    "TicketCount",
    "TicketCountChange",
    "TicketDueCount",
    "TicketEmbedding",
    "TicketSearchText",
    "TicketSuggestion",
    "User",
    "UserSession",
    "WeComAccount",
    "customer_search_terms",
    "ticket_collaborators",
    "ticket_search_terms",
    "utcnow",
]
