"""The ASGI application, served by uvicorn exactly like Tokenforge (one worker, httptools, uvloop)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drf_knox.settings")
application = get_asgi_application()
