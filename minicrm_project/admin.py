"""The staff site: Django's admin site with the project's titles and its extra pages.

It replaces `django.contrib.admin`'s default site (minicrm_project.apps.AdminConfig), the way
Django's documentation overrides the default admin site. The screens themselves live in
crm/admin/; the site only assembles them. It must not import crm.admin at module level:
the site is built while the admins are being discovered, and they register on it.
"""

from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _


class MinicrmAdminSite(admin.AdminSite):
    site_header = _("minicrm staff workspace")
    site_title = _("minicrm")
    index_title = _("Routing set-up and daily work")

    def get_urls(self):
        # An extra page behind the admin's own staff login, as django.contrib.auth's admin
        # adds its password page; it comes before the site's catch-all app URLs.
        return [
            path("routing/", self.admin_view(self.routing_dashboard), name="routing_dashboard"),
            *super().get_urls(),
        ]

    def routing_dashboard(self, request):
        from crm.admin.dashboard import routing_dashboard  # see the module docstring

        return routing_dashboard(request, site=self)
