from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Contact routing")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models import CharField

        from crm.api import schema  # noqa: F401 - registers the OpenAPI extensions
        from crm.compiled import LiteralExact

        # `status__literal="pending"`: a constant written into the SQL, so that a partial
        # index on it serves prepared statements' generic plans too (crm.compiled).
        CharField.register_lookup(LiteralExact)
