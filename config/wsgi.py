import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Load the URL configuration (and with it every view module, the statistics stack included) when
# the worker starts, not inside the first request a user makes to it.
from django.urls import get_resolver  # noqa: E402

get_resolver().check()
