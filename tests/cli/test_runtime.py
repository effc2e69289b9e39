import base64
import stat

import pytest

from optledger.bootstrap import StartupError, build, load_secret
from optledger.config import ConfigError, Settings
from optledger.domain.channels import Channel
from optledger.domain.errors import AuthenticationFailed, InvalidLinkToken
from optledger.services.messages import MessageSpec

SECRET = base64.urlsafe_b64encode(bytes(range(32))).decode()


def settings_for(tmp_path, **variables: str) -> Settings:
    """Settings on the data directory `tmp_path/data`, which exists (a configured data
    directory must)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    env = {"OPTLEDGER_DATA_DIR": str(tmp_path / "data")}
    env.update({f"OPTLEDGER_{name}": value for name, value in variables.items()})
    return Settings.from_env(env)


def test_first_start_creates_database_and_private_secret_file(tmp_path):
    settings = settings_for(tmp_path)

    with build(settings) as runtime:
        assert runtime.ready() is True
        assert runtime.services.tenants.list_tenants() == []

    assert (tmp_path / "data" / "optledger.db").is_file()
    secret_file = tmp_path / "data" / "optledger.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    lines = secret_file.read_text(encoding="ascii").splitlines()
    assert all(line.startswith("#") for line in lines[:-1])
    assert "back it up with the database" in " ".join(lines)
    assert len(base64.urlsafe_b64decode(lines[-1] + "=")) == 32
    assert sorted(p.name for p in secret_file.parent.iterdir()) == [
        "optledger.db",
        "optledger.secret",
    ]


def test_the_secret_file_is_kept_across_starts(tmp_path):
    settings = settings_for(tmp_path)
    with build(settings) as runtime:
        secret = runtime.services.tenants.create_tenant(name="acme").admin_key.secret
    first = load_secret(settings)

    with build(settings) as runtime:
        assert runtime.services.tenants.authenticate(secret=secret).tenant_id == 1
    assert load_secret(settings) == first


def test_a_different_secret_invalidates_the_keys(tmp_path):
    with build(settings_for(tmp_path)) as runtime:
        secret = runtime.services.tenants.create_tenant(name="acme").admin_key.secret

    with (
        build(settings_for(tmp_path, SECRET_KEY=SECRET)) as runtime,
        pytest.raises(AuthenticationFailed),
    ):
        runtime.services.tenants.authenticate(secret=secret)


def _register_link(runtime) -> str:
    services = runtime.services
    tenant = services.tenants.create_tenant(name="acme").tenant
    services.topics.create_topic(tenant_id=tenant.id, key="news", name="News")
    (message,) = services.messages.register_messages(
        tenant_id=tenant.id, messages=[MessageSpec(Channel.EMAIL, "ann@example.com", "news")]
    )
    return message.unsubscribe_url.rsplit("/", 1)[1]


def test_link_keys_rotate_and_retire(tmp_path):
    with build(settings_for(tmp_path)) as runtime:
        old_link = _register_link(runtime)
    with build(settings_for(tmp_path, LINK_KEYS="2,1")) as runtime:
        assert runtime.services.links.page(token=old_link).masked_address == "a***@example.com"
        tenant_id = runtime.services.tenants.get_tenant(name="acme").id
        (message,) = runtime.services.messages.register_messages(
            tenant_id=tenant_id, messages=[MessageSpec(Channel.EMAIL, "bob@example.com", "news")]
        )
        new_link = message.unsubscribe_url.rsplit("/", 1)[1]
        key_ids = [base64.urlsafe_b64decode(link + "==")[1] for link in (old_link, new_link)]
        assert key_ids == [1, 2]
    with build(settings_for(tmp_path, LINK_KEYS="2")) as runtime:
        assert runtime.services.links.page(token=new_link).masked_address == "b***@example.com"
        with pytest.raises(InvalidLinkToken):
            runtime.services.links.page(token=old_link)


def test_a_configured_secret_needs_no_file(tmp_path):
    settings = settings_for(tmp_path, SECRET_KEY=SECRET)

    with build(settings) as runtime:
        assert runtime.ready() is True

    assert not settings.secret_file.exists()
    assert load_secret(settings) == bytes(range(32))


def test_a_malformed_secret_file_is_refused(tmp_path):
    settings = settings_for(tmp_path)
    settings.secret_file.write_text("# comment\ntoo-short\n", encoding="ascii")

    with pytest.raises(ConfigError) as caught:
        build(settings)

    assert str(caught.value) == (
        f"{settings.secret_file}: must be base64url of at least 32 random bytes"
    )
    assert not (settings.data_dir / "optledger.db").exists()


def test_a_data_dir_that_cannot_be_created_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="ascii")
    settings = Settings.from_env({"HOME": str(blocker)})

    with pytest.raises(ConfigError) as caught:
        build(settings)

    assert str(caught.value) == (
        f"the default data directory {blocker}/.local/share/optledger cannot be used (Not a "
        "directory); set OPTLEDGER_DATA_DIR to a directory that exists"
    )


def test_an_unsupported_database_is_a_config_error(tmp_path):
    settings = settings_for(tmp_path, DATABASE_URL="sqlite:///:memory:", SECRET_KEY=SECRET)

    with pytest.raises(ConfigError, match=r"^OPTLEDGER_DATABASE_URL: SQLite needs a database file"):
        build(settings)


def test_an_unreachable_database_is_a_startup_error(tmp_path):
    settings = settings_for(
        tmp_path,
        DATABASE_URL="postgresql+psycopg://nobody:hunter2@127.0.0.1:9/optledger",
        SECRET_KEY=SECRET,
    )

    with pytest.raises(StartupError, match=r"^the database cannot be reached") as caught:
        build(settings)

    assert "hunter2" not in str(caught.value)


def test_close_is_idempotent_and_ends_readiness(tmp_path):
    runtime = build(settings_for(tmp_path))
    runtime.close()
    runtime.close()

    assert runtime.ready() is False
