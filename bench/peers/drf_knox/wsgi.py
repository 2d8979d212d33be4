"""The WSGI application (startproject's wsgi.py): an informative extra row, ``uvicorn --interface wsgi``.

Not the headline comparison, which serves Django's ASGI application like the other stacks: under
ASGI, Django runs each synchronous middleware and the view through ``sync_to_async`` thread hops,
while under WSGI the whole request runs on one worker thread.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drf_knox.settings")
application = get_wsgi_application()
