"""The browsable API description at ``/api/docs``, on the vendored Swagger UI.

The page and its script come from the pbx itself (``/static/vendor/swagger-ui``), so
the docs work on a call center's network with no way out to a CDN.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter()

VENDOR = "/static/vendor/swagger-ui"


@router.get("/api/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/api/openapi.json",
        title="pbx API",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/favicon-32x32.png",
    )
