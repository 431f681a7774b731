"""The customer registry (record 1): list and search."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from models.enums import CustomerLevel, CustomerType, Industry
from models.services import customers
from web.deps import DbSession
from web.security import requires_staff


def _enum_or_none(enum: Any, value: str | None) -> Any:
    try:
        return enum(value) if value else None
    except ValueError:
        return None


class CustomerController(Controller):
    path = "/customers"
    guards = [requires_staff]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        params = request.query_params
        rows = await customers.search(
            db_session, query=params.get("q", "")[:100],
            level=_enum_or_none(CustomerLevel, params.get("level")),
            industry=_enum_or_none(Industry, params.get("industry")),
            type=_enum_or_none(CustomerType, params.get("type")),
        )
        items = [(c, customers.masked_contacts(c)) for c in rows]
        return Template("customers/index.html", context={
            "items": items, "q": params.get("q", ""), "levels": list(CustomerLevel),
            "industries": list(Industry), "types": list(CustomerType),
            "level": params.get("level", ""), "industry": params.get("industry", ""),
            "type": params.get("type", ""),
        })
