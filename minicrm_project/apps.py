from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin with the project's site (minicrm_project.admin)."""

    default_site = "minicrm_project.admin.MinicrmAdminSite"
