"""The staff site: Django's admin site with the project's titles, its extra pages, and a guard
on every changelist it serves.

It replaces `django.contrib.admin`'s default site (minicrm_project.apps.AdminConfig), the way
Django's documentation overrides the default admin site. The screens themselves live in
crm/admin/; the site only assembles them. It must not import crm.admin at module level:
the site is built while the admins are being discovered, and they register on it.
"""

import json
import re
from contextlib import nullcontext

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import Permission
from django.core.exceptions import EmptyResultSet, FullResultSet, ValidationError
from django.db import DataError, connections, transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from knox.models import AuthToken

# Apps whose every screen is plumbing rather than daily work.
ACCESS_APPS = {"auth", "knox"}
# Django's own models' names in the accusative (ours: ModelAdmin.verbose_name_accusative).
ACCUSATIVE = {
    "auth.user": pgettext_lazy("accusative", "user"),
    "auth.group": pgettext_lazy("accusative", "group"),
}
# The plural accusative differs from the plural's own form only for people ("пользователей");
# ours: ModelAdmin.verbose_name_plural_accusative.
ACCUSATIVE_PLURAL = {
    "auth.user": pgettext_lazy("accusative", "users"),
}


# Django stores a permission's name ("Can add group") in the database, in the language the
# migration ran in; the permission pickers of users and groups show it translated instead.
PERMISSION_ACTIONS = {
    "add": pgettext_lazy("permission", "Can add %(name)s"),
    "change": pgettext_lazy("permission", "Can change %(name)s"),
    "delete": pgettext_lazy("permission", "Can delete %(name)s"),
    "view": pgettext_lazy("permission", "Can view %(name)s"),
}


def permission_label(permission: Permission) -> str:
    """ "Пользователи и группы | группа | Добавление: группа", in the active language. knox's
    token is named as the admin shows it (crm.models.ApiKey: "API-ключ", not "auth token")."""
    model = permission.content_type.model_class()
    action, _, model_name = permission.codename.partition("_")
    if model is None or action not in PERMISSION_ACTIONS or model_name != model._meta.model_name:
        return str(permission)
    if model is AuthToken:
        model = apps.get_model("crm", "ApiKey")
    what = PERMISSION_ACTIONS[action] % {"name": model._meta.verbose_name}
    return f"{model._meta.app_config.verbose_name} | {model._meta.verbose_name} | {what}"


class _InlineAdminFormSet(helpers.InlineAdminFormSet):
    """Django's, whose "Add another <row>" link Russian cannot say with one word order for
    every noun ("Добавить еще один Оператор"): the row's name follows a colon, as it is
    ("Добавить ещё: оператор")."""

    def inline_formset_data(self):
        data = json.loads(super().inline_formset_data())
        data["options"]["addText"] = pgettext("inline", "Add another %(name)s") % {"name": self.opts.verbose_name}
        return json.dumps(data)


def _delete_selected(modeladmin, request, queryset):
    """Django's "Delete selected" action, whose confirmation names the objects after "delete"
    in the accusative ("удалить пользователя", not "удалить пользователь")."""
    response = delete_selected(modeladmin, request, queryset)
    context = getattr(response, "context_data", None)
    if context is not None and not context.get("perms_lacking") and not context.get("protected"):
        many = queryset.count() != 1
        context["objects_name"] = modeladmin.accusative_name(plural=many)
    return response


class GuardedChangeList(ChangeList):
    """A changelist whose query string cannot cause a 500.

    Django's admin turns most bad lookups into its "invalid lookup" handling (a redirect with
    `?e=1`), but not the ones that fail later: a date outside Python's range (`?created_at__year=9999`
    has no end of year, `=0` no start), which fails when the SQL is compiled; a number too large
    for the database in `__in`, or a NUL, which PostgreSQL refuses in text, when it runs; a regular
    expression the database cannot compile; a `__range`, which a query string cannot express
    (the admin passes its text on, and the ORM takes each character for a bound). All of them
    become IncorrectLookupParameters here, before or while the page's count runs.
    """

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        # Django's "Select %s to change" with the name in the accusative ("Выберите оператора").
        name = self.model_admin.accusative_name()
        if name is not self.opts.verbose_name and not self.is_popup:
            title = "Select %s to change" if self.model_admin.has_change_permission(request) else "Select %s to view"
            self.title = gettext(title) % name

    def get_queryset(self, request, exclude_parameters=None):
        for key, values in self.get_filters_params().items():
            if key.endswith("__range"):
                raise IncorrectLookupParameters(f"{key}: a range cannot be given in a query string")
            for value in values:
                if "\x00" in value:
                    raise IncorrectLookupParameters(f"{key}: NUL character")
                if key.endswith("regex"):
                    try:
                        re.compile(value)
                    except re.error as exc:
                        raise IncorrectLookupParameters(f"{key}: {exc}") from exc
        try:
            queryset = super().get_queryset(request, exclude_parameters)
            # Compiling builds every bound (year ranges, dates) without touching the database.
            queryset.query.get_compiler(queryset.db).as_sql()
        except (EmptyResultSet, FullResultSet):
            pass
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc
        return queryset

    def get_results(self, request):
        # What only the database (or its driver) can refuse: a regex in its dialect, a number out
        # of its range. A savepoint keeps the request's transaction usable after the refusal.
        # Only inside a transaction (tests, ATOMIC_REQUESTS): outside one a refused statement
        # harms nothing, and on SQLite an atomic block would take the write lock for a read.
        in_transaction = connections[self.queryset.db].in_atomic_block
        try:
            with transaction.atomic(using=self.queryset.db) if in_transaction else nullcontext():
                super().get_results(request)
        except (DataError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class GuardedAdminMixin:
    """What the site adds to every ModelAdmin it registers, Django's and knox's included."""

    def accusative_name(self, *, plural: bool = False):
        """The model's name where Django's titles put it after a verb ("Add %s", "Select %s to
        change", "Are you sure you want to delete the %s"): Russian needs the accusative there
        ("Добавить оператора")."""
        if plural:
            return (
                getattr(self, "verbose_name_plural_accusative", None)
                or ACCUSATIVE_PLURAL.get(self.opts.label_lower)
                or self.opts.verbose_name_plural
            )
        return (
            getattr(self, "verbose_name_accusative", None)
            or ACCUSATIVE.get(self.opts.label_lower)
            or self.opts.verbose_name
        )

    def get_inline_formsets(self, request, formsets, inline_instances, obj=None):
        inline_formsets = super().get_inline_formsets(request, formsets, inline_instances, obj)
        for inline_formset in inline_formsets:
            # Django builds them itself; only the text of their "add" link changes (see the class).
            inline_formset.__class__ = _InlineAdminFormSet
        return inline_formsets

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Permission:
            field.label_from_instance = permission_label
        return field

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        context = getattr(response, "context_data", None)
        # "Are you sure you want to delete the %s": the accusative. (The refusals, "Deleting the
        # %s would...", need the genitive and keep Django's name.)
        if context is not None and not context.get("perms_lacking") and not context.get("protected"):
            context["object_name"] = self.accusative_name()
        return response

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (_delete_selected, name, description)
        return actions

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        name = self.accusative_name()
        if name is not self.opts.verbose_name:
            if add:
                context["title"] = gettext("Add %s") % name
            elif self.has_change_permission(request, obj):
                context["title"] = gettext("Change %s") % name
            else:
                context["title"] = gettext("View %s") % name
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if issubclass(changelist, GuardedChangeList):
            return changelist
        if changelist is ChangeList:
            return GuardedChangeList
        return type(f"Guarded{changelist.__name__}", (GuardedChangeList, changelist), {})

    def response_action(self, request, queryset):
        # The list's actions read the ticked rows' ids from the POST and filter on them only
        # when the action runs: an id that is not one ("x", a NUL, a number beyond the column)
        # would fail there. Refuse the selection as the admin refuses an empty one.
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(self._is_primary_key(value, queryset.db) for value in selected):
            self.message_user(
                request, _("The selection names rows that do not exist; nothing was changed."), messages.ERROR
            )
            return None
        return super().response_action(request, queryset)

    def _is_primary_key(self, value: str, using: str) -> bool:
        pk = self.model._meta.pk
        if "\x00" in value:
            return False
        try:
            python = pk.to_python(value)
        except ValidationError:
            return False
        if isinstance(python, int):
            low, high = connections[using].ops.integer_field_range(pk.get_internal_type())
            return (low is None or python >= low) and (high is None or python <= high)
        return True

    def get_search_results(self, request, queryset, search_term):
        # PostgreSQL text cannot hold NUL: a search term with one (the list's search, or an
        # autocomplete widget's `term`) would reach the database and fail. Drop it.
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))


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

    # No "View site" link: the product's only other pages are the API and its documentation,
    # which are not what staff came for.
    site_url = None

    def get_app_list(self, request, app_label=None):
        """The daily work first; then, in one section below it, the plumbing: accounts, API
        keys, bots' source bindings, stored idempotency keys (ModelAdmins that say
        `index_section = "access"`, and Django's and knox's own)."""
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps  # an app's own index page lists that app, as Django builds it
        work, access = [], []
        for app in apps:
            models = []
            for entry in app["models"]:
                model_admin = self._registry.get(entry["model"])
                if app["app_label"] in ACCESS_APPS or getattr(model_admin, "index_section", None) == "access":
                    access.append({**entry, "name": getattr(model_admin, "index_name", None) or entry["name"]})
                else:
                    models.append(entry)
            if models:
                work.append({**app, "models": models})
        if access:
            work.append(
                {
                    "name": _("Access and integrations"),
                    "app_label": "access",
                    "app_url": "#access",
                    "has_module_perms": True,
                    "models": sorted(access, key=lambda entry: str(entry["name"]).lower()),
                }
            )
        return work

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, GuardedAdminMixin):
            admin_class = type(
                admin_class.__name__,
                (GuardedAdminMixin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)

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
            messages.error(request, exc.message_for(request.user))
        target = request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:crm_operatorcontact_changelist")
        return HttpResponseRedirect(target)

    def routing_dashboard(self, request):
        from crm.admin.dashboard import routing_dashboard  # see the module docstring

        return routing_dashboard(request, site=self)
