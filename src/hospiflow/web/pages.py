"""The dashboard's pages: one HTML shell, its static assets and Plotly.js.

The page embeds configuration only (API base, hospital defaults); every
number it shows comes from ``/api/v1``. Plotly.js is served locally, so the
dashboard works with no internet: the vendored "cartesian" bundle (all the
traces the dashboard draws, a third of the full bundle's size). The
``plotly`` Python package is not needed at run time.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, send_file

from hospiflow.web.auth import auth

HERE = Path(__file__).parent
PLOTLY_JS = HERE / "vendor" / "plotly-cartesian.min.js"
# Plotly's own French (dates, decimal comma) and its stylesheet, which the page links so
# Plotly injects no <style> element a strict Content-Security-Policy would refuse
PLOTLY_ASSETS = {
    "plotly-locale-fr.js": "text/javascript",
    "plotly.css": "text/css",
}

pages = Blueprint(
    "pages",
    __name__,
    static_folder=str(HERE / "static"),
    static_url_path="/static",
    template_folder=str(HERE / "templates"),
)


def _config_json() -> str:
    """The page's configuration as JSON ("</" cannot appear inside the script element)."""
    config = {
        "api": "/api/v1",
        "saturation": current_app.config.get("SATURATION_THRESHOLDS", {}),
        # asked each time: an admin token created while the server runs counts at once
        "writes_enabled": auth().writes_possible(),
        # a live Now view with no update for this long is marked stale
        "stale_seconds": current_app.config.get("STALE_SECONDS", 120),
    }
    return json.dumps(config).replace("</", "<\\/")


@pages.get("/")
def index() -> str:
    """The dashboard shell."""
    return render_template("index.html", config_json=_config_json())


@pages.get("/summary")
def summary() -> str:
    """The printable daily summary (``?run=N&day=YYYY-MM-DD&lang=fr``; numbers from
    ``/api/v1/runs/{id}/summary``)."""
    return render_template("summary.html", config_json=_config_json())


@pages.get("/vendor/plotly.min.js")
def plotly_js() -> Response:
    """The vendored Plotly.js cartesian bundle (MIT licence), cached by the browser for a day."""
    return send_file(PLOTLY_JS, mimetype="text/javascript", max_age=86400)


@pages.get("/vendor/<name>")
def plotly_asset(name: str) -> Response:
    """Plotly's French locale and stylesheet (from the npm package ``plotly.js``, MIT)."""
    mimetype = PLOTLY_ASSETS.get(name)
    if mimetype is None:
        abort(404)
    return send_file(HERE / "vendor" / name, mimetype=mimetype, max_age=86400)
