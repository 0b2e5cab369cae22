"""Staff screens, one module per concern. Every write goes through crm.services (see
`service_bridge` for how a service's refusal reaches the form):

- service_bridge: service errors → admin forms (ServiceAdminMixin, ServiceFormMixin and kin);
- weights: the operator ↔ source weight inlines, saved through the services;
- operators, sources: their admins, forms and filters;
- leads, contacts: the daily work;
- access: routing history, bot bindings, idempotency keys, API keys;
- display: load bars, percentages, the decision record (HTML in templates/admin/crm/);
- webhooks: webhook endpoints and deliveries (test, rotate secret, retry now);
- dashboard: the routing dashboard, added to the admin site by its `get_urls()`
  (minicrm_project/admin.py);
- workspace: the operator's own screens (My contacts, close, transfer; the availability switch).

The site (minicrm_project/admin.py) adds a guard to every admin it registers: no query string,
search term or action selection typed on a changelist can make it fail.

Importing this package registers the admins (Django's autodiscover does it).
"""

from crm.admin import (  # noqa: F401 - registers the admins
    access,
    contacts,
    leads,
    operators,
    sources,
    webhooks,
    workspace,
)
