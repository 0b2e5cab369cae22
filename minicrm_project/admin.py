"""The staff site: Django's admin site with the project's titles and its extra pages.

It replaces `django.contrib.admin`'s default site (minicrm_project.apps.AdminConfig), the way
Django's documentation overrides the default admin site. The screens themselves live in
crm/admin/; the site only assembles them. It must not import crm.admin at module level:
the site is built while the admins are being discovered, and they register on it.
"""

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _


class WorkspaceAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, open to operators with their own login as well as to staff."""

    def confirm_login_allowed(self, user):
        from crm.selectors import operator_for_user

        if user.is_staff or operator_for_user(user) is None:
            super().confirm_login_allowed(user)
        else:
            AuthenticationForm.confirm_login_allowed(self, user)  # active users only


class MinicrmAdminSite(admin.AdminSite):
    site_header = _("minicrm staff workspace")
    site_title = _("minicrm")
    index_title = _("Routing set-up and daily work")
    login_form = WorkspaceAuthenticationForm

    def get_urls(self):
        # An extra page behind the admin's own staff login, as django.contrib.auth's admin
        # adds its password page; it comes before the site's catch-all app URLs.
        return [
            path("routing/", self.admin_view(self.routing_dashboard), name="routing_dashboard"),
            path("availability/", self.admin_view(self.availability_switch), name="availability"),
            *super().get_urls(),
        ]

    # --- Operators: their own workspace in the same site ---------------------------------------

    def _operator(self, request):
        from crm.admin.workspace import request_operator  # see the module docstring

        user = request.user
        if not (user.is_active and user.is_authenticated) or user.is_staff:
            return None
        return request_operator(request)

    def has_permission(self, request):
        """Staff, as Django's admin has it, and operators with their own login (not staff):
        every staff screen still refuses them, as they hold no model permission."""
        return super().has_permission(request) or self._operator(request) is not None

    def each_context(self, request):
        context = super().each_context(request)
        operator = self._operator(request)
        if operator is not None:
            from crm.models import Operator
            from crm.services.availability import operator_activity_record

            # A workspace page is activity: it keeps him from auto-away (at most one write a minute).
            operator_activity_record(operator=operator)
            context["crm_operator"] = operator
            context["crm_availability_choices"] = Operator.Availability.choices
        return context

    def index(self, request, extra_context=None):
        if self._operator(request) is not None:
            return HttpResponseRedirect(reverse("admin:crm_operatorcontact_changelist"))
        return super().index(request, extra_context)

    def availability_switch(self, request):
        """The switch on every page of an operator's workspace: POST availability (and
        redistribute when going offline), back to the page he was on."""
        from crm.errors import DomainError
        from crm.services.availability import operator_availability_set

        operator = self._operator(request)
        if operator is None:
            return HttpResponseRedirect(reverse("admin:index"))
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            operator_availability_set(
                operator_id=operator.pk,
                availability=request.POST.get("availability", ""),
                redistribute=request.POST.get("redistribute") == "on",
                actor=request.user,
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        target = request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:crm_operatorcontact_changelist")
        return HttpResponseRedirect(target)

    def routing_dashboard(self, request):
        from crm.admin.dashboard import routing_dashboard  # see the module docstring

        return routing_dashboard(request, site=self)
