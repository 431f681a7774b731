"""CSV / XLSX downloads of the five records: ``/exports/<record>.<csv|xlsx>?<filters>``.

The filters are the pages' own URL parameters, so an export link is the page's query string.
The rows are streamed (see :mod:`models.services.reports.exports`); the request's own session is
closed before the body is sent, so the stream reads through a session of its own.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Stream

from models.services.reports import cache, exports
from web.deps import DbSession
from web.i18n import get_locale, gettext
from web.labels import label
from web.security import requires_lead


class ExportController(Controller):
    path = "/exports"
    guards = [requires_lead]
    include_in_schema = False

    @get("/{name:str}")
    async def download(
        self, request: Request[Any, Any, Any], db_session: DbSession, name: FromPath[str]
    ) -> Stream:
        record, _, fmt = name.rpartition(".")
        exports.check(record, fmt)
        filters = exports.parse_filters(dict(request.query_params), record=record)
        summary = None
        if record == "summary":
            assert filters.period is not None
            state = request.app.state
            summary = await cache.problem_summary(
                db_session,
                state.redis,
                state.settings.event_channel,
                filters.period,
                department_id=filters.department_id,
            )
        loc = exports.Localizer(gettext=gettext, label=label)
        sheets = exports.sheets_for(
            record, filters, loc, english=get_locale() == "en", summary=summary
        )
        file_name = exports.filename(record, fmt, filters)
        return Stream(
            exports.stream(request.app.state.db, fmt, sheets, loc),
            media_type=exports.MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="{file_name}"',
                "Cache-Control": "no-store",
            },
        )
