"""The admin shows tenants, their lifecycle history and webhooks read-only, and never a tenant's secret."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse

from jira_app.models import AtlassianHost, ForgeInstallation, ForgeLifecycleEvent, LifecycleEvent, WebhookDelivery
from tests.factories import AtlassianHostFactory

pytestmark = pytest.mark.django_db

SECRET = "ATCO-admin-test-secret-0123456789abcdef"


@pytest.fixture
def host() -> AtlassianHost:
    host = AtlassianHostFactory(secret=SECRET, base_url="https://acme.atlassian.net", client_key="acme-client-key")
    LifecycleEvent.objects.create(host=host, kind=LifecycleEvent.Kind.INSTALLED, base_url=host.base_url)
    LifecycleEvent.objects.create(
        host=host, kind=LifecycleEvent.Kind.DISABLED, base_url=host.base_url, account_id="557058:bob"
    )
    return host


def url(name: str, *args) -> str:
    return reverse(f"admin:jira_app_{name}", args=args)


def assert_no_secret(response, host: AtlassianHost) -> None:
    html = response.content.decode()
    assert SECRET not in html
    assert host.encrypted_shared_secret not in html
    # Not even a recognisable piece of the ciphertext (Fernet tokens start with a fixed version prefix).
    assert host.encrypted_shared_secret[10:40] not in html


def test_host_changelist_lists_the_tenant_without_its_secret(admin_client, host):
    response = admin_client.get(url("atlassianhost_changelist"))

    assert response.status_code == 200
    assert "acme-client-key" in response.content.decode()
    assert_no_secret(response, host)


def test_host_change_page_shows_the_tenant_and_its_history_without_its_secret(admin_client, host):
    response = admin_client.get(url("atlassianhost_change", host.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert "acme-client-key" in html
    assert "https://acme.atlassian.net" in html
    assert_no_secret(response, host)
    # The lifecycle events inline.
    inline = response.context["inline_admin_formsets"]
    assert [formset.formset.model for formset in inline] == [LifecycleEvent]
    assert len(inline[0].formset.queryset) == 2
    assert "557058:bob" in html


def test_hosts_cannot_be_added_by_hand(admin_client, host):
    assert admin_client.get(url("atlassianhost_add")).status_code == 403
    response = admin_client.post(url("atlassianhost_add"), {"client_key": "forged", "base_url": "https://x.example"})
    assert response.status_code == 403
    assert list(AtlassianHost.objects.values_list("client_key", flat=True)) == ["acme-client-key"]


def test_hosts_cannot_be_changed_by_hand(admin_client, host):
    before = {**model_to_dict(host), "encrypted_shared_secret": host.encrypted_shared_secret}

    response = admin_client.post(
        url("atlassianhost_change", host.pk),
        {"client_key": "forged", "base_url": "https://evil.example", "installed": "on", "enabled": ""},
    )

    assert response.status_code == 403
    host.refresh_from_db()
    assert {**model_to_dict(host), "encrypted_shared_secret": host.encrypted_shared_secret} == before


def test_hosts_cannot_be_deleted_by_hand(admin_client, host):
    assert admin_client.get(url("atlassianhost_delete", host.pk)).status_code == 403
    assert admin_client.post(url("atlassianhost_delete", host.pk), {"post": "yes"}).status_code == 403
    assert AtlassianHost.objects.filter(pk=host.pk).exists()


def test_hosts_cannot_be_bulk_deleted(admin_client):
    # A host without lifecycle events: nothing but the permission stands between the action and the row.
    bare = AtlassianHostFactory(secret=SECRET)

    admin_client.post(
        url("atlassianhost_changelist"), {"action": "delete_selected", "_selected_action": [bare.pk], "post": "yes"}
    )

    assert AtlassianHost.objects.filter(pk=bare.pk).exists()


def test_lifecycle_event_changelist_renders(admin_client, host):
    response = admin_client.get(url("lifecycleevent_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "557058:bob" in html
    assert_no_secret(response, host)


def test_lifecycle_events_are_read_only(admin_client, host):
    event = host.lifecycle_events.first()
    assert admin_client.get(url("lifecycleevent_change", event.pk)).status_code == 200
    assert admin_client.get(url("lifecycleevent_add")).status_code == 403
    assert admin_client.get(url("lifecycleevent_delete", event.pk)).status_code == 403
    assert admin_client.post(url("lifecycleevent_change", event.pk), {"kind": "enabled"}).status_code == 403
    assert LifecycleEvent.objects.get(pk=event.pk).kind == event.kind


def test_webhook_delivery_changelist_renders(admin_client, host):
    WebhookDelivery.objects.create(
        host=host, identifier="wh-identifier-1", event="jira:issue_created", payload={"issue": {"key": "ACME-1"}}
    )

    response = admin_client.get(url("webhookdelivery_changelist"))

    assert response.status_code == 200
    assert "wh-identifier-1" in response.content.decode()
    assert admin_client.get(url("webhookdelivery_add")).status_code == 403


def test_admin_is_not_open_to_anonymous_users(client, host):
    response = client.get(url("atlassianhost_change", host.pk))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_forge_installations_are_listed_read_only_with_their_tenant(admin_client, host):
    installation = ForgeInstallation.objects.create(
        installation_id="ari:cloud:ecosystem::installation/7b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e", host=host
    )
    ForgeLifecycleEvent.objects.create(installation=installation, kind=ForgeLifecycleEvent.Kind.INSTALLED)

    listing = admin_client.get(url("forgeinstallation_changelist"))
    page = admin_client.get(url("forgeinstallation_change", installation.pk))

    assert listing.status_code == page.status_code == 200
    assert installation.installation_id in listing.content.decode()
    assert "acme.atlassian.net" in page.content.decode()
    assert_no_secret(page, host)
    assert admin_client.get(url("forgeinstallation_add")).status_code == 403


@pytest.fixture
def staff_client(client, django_user_model):
    """A staff user who may view tenants, their history and webhooks, as an operator would."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("operator", password="operator-password", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__startswith="view_", content_type__app_label="jira_app")
    )
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("changelist", "lookup"),
    [
        ("atlassianhost_changelist", "encrypted_shared_secret__regex"),
        ("atlassianhost_changelist", "encrypted_shared_secret__startswith"),
        ("atlassianhost_changelist", "encrypted_shared_secret"),
        ("atlassianhost_changelist", "encrypted_shared_secret__gt"),
        ("lifecycleevent_changelist", "host__encrypted_shared_secret__regex"),
        ("webhookdelivery_changelist", "host__encrypted_shared_secret__startswith"),
    ],
)
def test_no_filter_may_touch_the_encrypted_secret(staff_client, host, changelist, lookup):
    prefix = host.encrypted_shared_secret[:12]

    # Today's oracle: a right guess lists the tenant, a wrong one does not, one character at a time.
    right = staff_client.get(url(changelist), {lookup: prefix if "regex" not in lookup else "^" + prefix})
    wrong = staff_client.get(url(changelist), {lookup: "x" if "regex" not in lookup else "^x"})

    assert (right.status_code, wrong.status_code) == (400, 400)


def test_search_does_not_reach_the_encrypted_secret(staff_client, host):
    response = staff_client.get(url("atlassianhost_changelist"), {"q": host.encrypted_shared_secret[:20]})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


@pytest.mark.parametrize("order", ["0", "-1", "2.3"])
def test_ordering_by_any_listed_column_works_and_no_column_is_the_secret(staff_client, host, order):
    response = staff_client.get(url("atlassianhost_changelist"), {"o": order})

    assert response.status_code == 200
    ordering = response.context["cl"].get_ordering(response.wsgi_request, response.context["cl"].queryset)
    assert not [field for field in ordering if "secret" in str(field)]


def test_no_admin_option_names_a_secret_field():
    from django.contrib import admin as django_admin

    from jira_app.admin import SECRET_FIELDS

    options = ("search_fields", "list_display", "list_filter", "ordering", "sortable_by", "fields", "readonly_fields")
    for model, model_admin in django_admin.site._registry.items():
        if model._meta.app_label != "jira_app":
            continue
        named = {str(name) for option in options for name in (getattr(model_admin, option, None) or ())}
        named.add(str(model_admin.date_hierarchy))
        assert not {part for name in named for part in name.lstrip("^=@-").split("__")} & SECRET_FIELDS, model
