"""Image routes of the Engine API (stub: the image engineer replaces it)."""

from aiohttp import web

routes = web.RouteTableDef()
