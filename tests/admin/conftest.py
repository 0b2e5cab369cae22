import pytest


@pytest.fixture
def admin_client(client, staff_user):
    """A staff member with the crm permissions (not a superuser), logged in to admin."""
    client.force_login(staff_user)
    return client
