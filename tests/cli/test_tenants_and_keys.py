import json
import re
from datetime import datetime, timedelta

from optledger.domain.model import Scope
from optledger.services.results import Principal


def test_tenant_create_json_shape(run):
    result = run(
        "tenant",
        "create",
        "globex",
        "--region",
        "de",
        "--locale",
        "de-DE",
        "--grace-days",
        "14",
        "--json",
    )

    assert result.exit_code == 0
    assert result.stderr == ""
    created = json.loads(result.stdout)
    assert set(created) == {"tenant", "api_key"}
    created_at = datetime.fromisoformat(created["tenant"].pop("created_at"))
    assert created_at.utcoffset() == timedelta(0)
    assert created["tenant"] == {
        "id": 1,
        "name": "globex",
        "default_region": "DE",
        "default_locale": "de-DE",
        "grace_period_days": 14,
        "pages": {
            "display_name": None,
            "accent_color": None,
            "logo_type": None,
            "logo_bytes": None,
            "undo_days": 30,
            "link_days": 365,
        },
    }
    assert re.fullmatch(r"olk_[A-Za-z0-9_-]{43}", created["api_key"])


def test_the_printed_key_authenticates_as_the_tenant_admin(tenant, services):
    with services() as opened:
        principal = opened.tenants.authenticate(secret=tenant["api_key"])
    assert principal == Principal(tenant_id=tenant["tenant"]["id"], key_id=1, scope=Scope.ADMIN)


def test_tenant_create_summary_shows_the_key_once_on_its_own_line(run, services):
    result = run("tenant", "create", "acme")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Created tenant acme (id 1): region US, locale en-US, grace period 7 days."
    assert lines[1] == "Its admin API key is shown only this once; store it somewhere safe:"
    assert len(lines) == 3
    with services() as opened:
        assert opened.tenants.authenticate(secret=lines[2]).scope is Scope.ADMIN


def test_tenant_set_changes_only_the_options_given(run, tenant, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    first = run("tenant", "set", "acme", "--display-name", "Acme Mail", "--logo", str(logo))
    assert first.exit_code == 0
    assert first.stdout == (
        "Tenant acme: pages show 'Acme Mail', accent default, a logo; undo for 30 days, "
        "links work for 365 days.\n"
    )
    second = run("tenant", "set", "acme", "--accent-color", "#0B57D0", "--undo-days", "7", "--json")
    assert second.exit_code == 0
    assert json.loads(second.stdout)["pages"] == {
        "display_name": "Acme Mail",
        "accent_color": "#0b57d0",
        "logo_type": "image/png",
        "logo_bytes": 48,
        "undo_days": 7,
        "link_days": 365,
    }
    cleared = run("tenant", "set", "acme", "--display-name", "", "--no-logo", "--json")
    assert json.loads(cleared.stdout)["pages"]["display_name"] is None
    assert json.loads(cleared.stdout)["pages"]["logo_bytes"] is None


def test_tenant_set_reports_every_bad_option(run, tenant):
    result = run("tenant", "set", "acme", "--accent-color", "red", "--link-days", "7")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "accent_color: must be a colour such as #1a73e8" in result.stderr
    assert "link_lifetime: must be between 30 and 3650 days" in result.stderr


def test_duplicate_tenant_exits_with_4(run, tenant):
    result = run("tenant", "create", "acme", "--json")

    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == "name: a tenant named 'acme' already exists\n"


def test_invalid_tenant_name_exits_with_2_naming_the_field(run):
    result = run("tenant", "create", "Acme Corp")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "name: must be 1-63 lower-case letters, digits or '-', not starting with '-'\n"
    )


def test_several_invalid_fields_are_each_reported(run):
    result = run("tenant", "create", "acme", "--region", "XX")

    assert result.exit_code == 2
    assert result.stderr == (
        "default_region: must be an ISO 3166-1 alpha-2 region code such as US or DE\n"
    )


def test_grace_days_out_of_range_is_a_usage_error(run):
    result = run("tenant", "create", "acme", "--grace-days", "400")

    assert result.exit_code == 2
    assert "Invalid value for '--grace-days'" in result.stderr


def test_tenant_list_json(run, tenant):
    run("tenant", "create", "globex")

    result = run("tenant", "list", "--json")

    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [(t["id"], t["name"]) for t in listed] == [(1, "acme"), (2, "globex")]
    assert listed[0] == tenant["tenant"]


def test_unknown_tenant_exits_with_3(run):
    result = run("key", "list", "--tenant", "nope")

    assert result.exit_code == 3
    assert result.stderr == "tenant 'nope' was not found\n"


def test_key_create_list_revoke(run, tenant, services):
    created = run("key", "create", "--tenant", "acme", "--name", "ci", "--scope", "check", "--json")
    assert created.exit_code == 0
    body = json.loads(created.stdout)
    secret = body.pop("api_key")
    assert body["key"]["id"] == 2
    assert body["key"]["name"] == "ci"
    assert body["key"]["scope"] == "check"
    assert body["key"]["prefix"] == secret[:12]
    assert body["key"]["revoked_at"] is None
    with services() as opened:
        assert opened.tenants.authenticate(secret=secret) == Principal(
            tenant_id=1, key_id=2, scope=Scope.CHECK
        )

    revoked = run("key", "revoke", "--tenant", "acme", "2")
    assert revoked.exit_code == 0
    assert revoked.stdout == "Revoked key 2 (ci).\n"

    listed = run("key", "list", "--tenant", "acme", "--json")
    assert listed.exit_code == 0
    keys = json.loads(listed.stdout)
    assert [(k["id"], k["name"], k["scope"]) for k in keys] == [
        (1, "admin", "admin"),
        (2, "ci", "check"),
    ]
    assert keys[0]["revoked_at"] is None
    assert keys[1]["revoked_at"] is not None
    assert secret not in listed.stdout
    assert tenant["api_key"] not in listed.stdout
    assert "hash" not in listed.stdout


def test_revoking_an_unknown_key_exits_with_3(run, tenant):
    result = run("key", "revoke", "--tenant", "acme", "9")

    assert result.exit_code == 3
    assert result.stderr == "api key '9' was not found\n"


def test_bad_scope_is_a_usage_error(run, tenant):
    result = run("key", "create", "--tenant", "acme", "--name", "ci", "--scope", "root")

    assert result.exit_code == 2
    assert "Invalid value for '--scope'" in result.stderr
