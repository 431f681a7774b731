"""The model page: every classifier version with its measurements; retrain and roll back.

While a version trains, the version table polls ``/models/versions`` every 2 s (htmx) and
stops polling once nothing is queued or training.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from models.services.knowledge import lifecycle, models_page
from models.services.tickets import triage
from web.deps import CurrentActor, DbSession
from web.security import requires_lead


class ModelsController(Controller):
    path = "/models"
    guards = [requires_lead]
    include_in_schema = False

    @get("/")
    async def index(self, db_session: DbSession) -> Template:
        return Template(
            "models/index.html",
            context={
                "page": await models_page.models_page(db_session),
                "teach": await triage.teach_step(db_session, with_items=False),
            },
        )

    @get("/versions")
    async def versions(self, db_session: DbSession) -> Template:
        return Template(
            "models/partials/_versions.html",
            context={"page": await models_page.models_page(db_session)},
        )

    @post("/retrain", status_code=200)
    async def retrain(
        self, request: HTMXRequest, db_session: DbSession, actor: CurrentActor
    ) -> Response[Any]:
        _, queued = await lifecycle.request_retrain(db_session, actor)
        return await _versions(request, db_session, queued=queued, already=not queued)

    @post("/{version_id:int}/rollback", status_code=200)
    async def rollback(
        self,
        request: HTMXRequest,
        db_session: DbSession,
        actor: CurrentActor,
        version_id: FromPath[int],
    ) -> Response[Any]:
        restored = await lifecycle.rollback(db_session, actor, version_id)
        return await _versions(request, db_session, restored=restored.version)


async def _versions(request: HTMXRequest, db_session: Any, **context: Any) -> Response[Any]:
    """The re-rendered version table for htmx; a redirect to the page otherwise."""
    if not request.htmx:
        return Redirect("/models")
    return Template(
        "models/partials/_versions.html",
        context={"page": await models_page.models_page(db_session), **context},
    )
