"""The REST API (django-ninja): the same data, permissions and scope as the console.

``api.py`` builds the NinjaAPI; ``auth.py`` accepts bearer tokens and the
console's session; ``routers/`` holds one module per area, ``schemas/`` the
request and response shapes. Every write calls a domain action; permission
and scope come from :mod:`pems.access.scope` only.
"""
