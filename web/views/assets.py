"""Versioned assets: pages link ``/assets/<file>?v=<content hash>`` (templating.static_url).

A URL whose hash is the file's own is cached for a year. One whose hash is not — a page from
a newer web process whose asset request reached an older one during a rolling upgrade, or an
old page after an upgrade — is answered with the file as it is here, marked not to be kept,
so no browser stores one version's file under another's URL."""

from __future__ import annotations

from litestar import HttpMethod, route
from litestar.exceptions import NotFoundException
from litestar.response import File

from web import templating

FOREVER = "public, max-age=31536000, immutable"


@route(
    f"{templating.ASSETS_PATH}/{{path:path}}",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    include_in_schema=False,
    sync_to_thread=False,
)
def asset(path: str, v: str = "") -> File:
    found = templating.static_file(path)
    if found is None:
        raise NotFoundException()
    current = v == templating.content_hash(found)
    return File(
        path=found,
        filename=found.name,
        content_disposition_type="inline",
        headers={"Cache-Control": FOREVER if current else "no-cache"},
    )


ROUTES = [asset]
