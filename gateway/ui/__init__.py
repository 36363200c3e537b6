"""The web UI: sign in, then manage organizations' and your own robot accounts in a browser.

Served by the same application as the token endpoint and the management API, and built on
the same model (``tokenstore``): server-rendered pages (aiohttp-jinja2) with a little plain
JavaScript for the dialogs, no build step and nothing loaded from elsewhere. See docs/ui.md.
"""

from .routes import add_routes

__all__ = ["add_routes"]
