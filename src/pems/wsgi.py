"""WSGI entry point used by `pems serve` (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pems.settings")
application = get_wsgi_application()
