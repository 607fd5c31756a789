"""The live page (`/ui`) and offline API docs (`/docs`, `/redoc`): static files, no CDN.

The page and its recording ship in `service/ui/`; Swagger UI and ReDoc come from the
`fastapi-offline` package's static files. Only files named here are served (bounded metric
route labels, no path lookups from user input).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"

UI_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "recording.json": "application/json",
}
DOCS_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# The page loads only its own files and talks only to its own origin (fetch and WebSocket).
UI_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
DOCS_ASSETS = "/docs/assets"
DOCS_CACHE = {"Cache-Control": "public, max-age=86400"}
# ReDoc's sidebar fetches its vendor's logo from a CDN (hidden when that fails): an outside
# request from every reader's browser and a console error offline. The bundle is served
# without that URL, so the image fails at once, locally, and hides itself.
REDOC_LOGO_URL = b"https://cdn.redoc.ly/redoc/logo-mini.svg"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    """The live page."""
    return RedirectResponse("ui")


@router.get("/ui")
async def ui_page() -> FileResponse:
    """The live page: replays a real DSADS recording over `/v1/stream`."""
    return FileResponse(UI_DIR / "index.html", media_type="text/html", headers=UI_HEADERS)


@router.get("/ui/{name}")
async def ui_file(name: str) -> FileResponse:
    """The page's script, style sheet and recording."""
    if name not in UI_FILES:
        raise HTTPException(404, f"no such file; the page has {sorted(UI_FILES)}")
    return FileResponse(UI_DIR / name, media_type=UI_FILES[name], headers=UI_HEADERS)


@router.get(DOCS_ASSETS + "/{name}")
async def docs_asset(name: str) -> Response:
    """Swagger UI and ReDoc files, served here rather than from a CDN."""
    if name not in DOCS_FILES:
        raise HTTPException(404, f"no such file; the docs have {sorted(DOCS_FILES)}")
    if name == "redoc.standalone.js":
        return Response(_redoc_bundle(), media_type=DOCS_FILES[name], headers=DOCS_CACHE)
    return FileResponse(DOCS_ASSETS_DIR / name, media_type=DOCS_FILES[name], headers=DOCS_CACHE)


@cache
def _redoc_bundle() -> bytes:
    return (DOCS_ASSETS_DIR / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO_URL, b"")


def add_docs(app: FastAPI) -> None:
    """`/docs` and `/redoc` from local assets; create the app with `docs_url=redoc_url=None`."""
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + redirect_url,
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route(redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
