"""Route handlers, grouped by area; each group carries its own guard."""

from web.views.admin import AdminController
from web.views.auth import ROUTES as AUTH_ROUTES
from web.views.board import BoardController
from web.views.customers import CustomerController
from web.views.kb import KnowledgeBaseController
from web.views.reports import ReportController

ROUTE_HANDLERS = [
    *AUTH_ROUTES,
    BoardController,
    CustomerController,
    KnowledgeBaseController,
    ReportController,
    AdminController,
]
