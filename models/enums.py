"""Closed vocabularies of the service process, stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    COMPLETED = "completed"
    CLOSED = "closed"


class ContactReveal(StrEnum):
    """Whose contact details an agent may reveal (an admin setting; leads and admins always may)."""

    NEVER = "never"
    OWN = "own"  # customers with a ticket assigned to the agent (assignee or owner)
    DEPARTMENT = "department"  # ... or to the agent's department (the default)


class RequestType(StrEnum):
    CONSULTATION = "consultation"
    PROBLEM = "problem"
    COMPLAINT = "complaint"
    AFTER_SALES = "after_sales"


class TypeSource(StrEnum):
    """Who decided a ticket's request type."""

    MODEL = "model"
    LEAD = "lead"
    AGENT = "agent"


class Urgency(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"
    LOW = "low"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class CustomerType(StrEnum):
    INDIVIDUAL = "individual"
    ENTERPRISE = "enterprise"


class CustomerLevel(StrEnum):
    NORMAL = "normal"
    VIP = "vip"
    STRATEGIC = "strategic"


class Channel(StrEnum):
    PHONE = "phone"
    ONLINE_CHAT = "online_chat"
    EMAIL = "email"
    SOCIAL_MEDIA = "social_media"
    REFERRAL = "referral"
    PORTAL = "portal"
    API = "api"
    VISIT = "visit"


class FollowUpMethod(StrEnum):
    PHONE = "phone"
    ONLINE_CHAT = "online_chat"
    EMAIL = "email"
    VISIT = "visit"


class Role(StrEnum):
    ADMIN = "admin"
    LEAD = "lead"
    AGENT = "agent"


class Industry(StrEnum):
    """GB/T 4754-2017 sections (门类) A–T."""

    A = "A"  # 农、林、牧、渔业
    B = "B"  # 采矿业
    C = "C"  # 制造业
    D = "D"  # 电力、热力、燃气及水生产和供应业
    E = "E"  # 建筑业
    F = "F"  # 批发和零售业
    G = "G"  # 交通运输、仓储和邮政业
    H = "H"  # 住宿和餐饮业
    I = "I"  # 信息传输、软件和信息技术服务业  # noqa: E741
    J = "J"  # 金融业
    K = "K"  # 房地产业
    L = "L"  # 租赁和商务服务业
    M = "M"  # 科学研究和技术服务业
    N = "N"  # 水利、环境和公共设施管理业
    O = "O"  # 居民服务、修理和其他服务业  # noqa: E741
    P = "P"  # 教育
    Q = "Q"  # 卫生和社会工作
    R = "R"  # 文化、体育和娱乐业
    S = "S"  # 公共管理、社会保障和社会组织
    T = "T"  # 国际组织


class ExtensionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class ChatStatus(StrEnum):
    """Where a live-chat conversation stands."""

    QUEUED = "queued"  # the visitor wrote; no agent has it yet
    ACTIVE = "active"  # an agent has it
    ENDED = "ended"
    LEFT_MESSAGE = "left_message"  # off hours or nobody online: a message form, no chat


class ChatAuthor(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"
