from django.db import transaction
from django.utils import timezone

from crm.errors import NotFoundError
from crm.models import Contact, Operator
from crm.services.assignment import operator_load_add


def contact_close(*, contact_id: int) -> Contact:
    """Close an open contact and free its operator's capacity. Closing a closed contact
    changes nothing and returns it as it is (bots and staff retry; the result is the same).
    """
    while True:
        with transaction.atomic():
            contact = Contact.objects.filter(pk=contact_id).first()
            if contact is None:
                raise NotFoundError(f"Contact {contact_id} does not exist.")
            if contact.status == Contact.Status.CLOSED:
                return contact
            operator_id = contact.operator_id
            if operator_id is not None:
                # Lock order: the operator first, then the contact (by the UPDATE below), as
                # on every path. The lock keeps the load change and the close together.
                Operator.objects.select_for_update(no_key=True).filter(pk=operator_id).first()
            closed_at = timezone.now()
            # Conditional on the state read above: if a concurrent close or reassignment got
            # there first, nothing is updated and we look again.
            changed = Contact.objects.filter(pk=contact_id, status=Contact.Status.OPEN, operator_id=operator_id).update(
                status=Contact.Status.CLOSED, closed_at=closed_at
            )
            if changed:
                if operator_id is not None:
                    operator_load_add(operator_id=operator_id, delta=-1)
                contact.status = Contact.Status.CLOSED
                contact.closed_at = closed_at
                return contact
