import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "minicrm_project.settings.local")
django_application = get_wsgi_application()

from crm.middleware import RequestGuard  # noqa: E402 - needs the settings loaded above

application = RequestGuard(django_application)
