import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "minicrm_project.settings.local")
django_application = get_asgi_application()

from crm.middleware import AsgiRequestGuard  # noqa: E402 - needs the settings loaded above

application = AsgiRequestGuard(django_application)
