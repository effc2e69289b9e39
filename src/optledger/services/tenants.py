"""Tenants and their API keys."""

from datetime import datetime, timedelta

from optledger.domain.errors import AuthenticationFailed, Conflict, NotFound
from optledger.domain.model import ApiKey, PageSettings, Scope, Tenant
from optledger.domain.ports import UnitOfWork
from optledger.domain.secrets import new_secret
from optledger.services.context import ServiceContext
from optledger.services.results import CreatedKey, CreatedTenant, Principal
from optledger.services.validation import (
    check_grace_period,
    check_locale,
    check_page_settings,
    check_region,
    check_storable,
    check_tenant_name,
    check_text,
)

__all__ = ["DEFAULT_GRACE_PERIOD", "KEY_PREFIX", "PRINCIPAL_TTL", "TenantService"]

DEFAULT_GRACE_PERIOD = timedelta(days=7)
PRINCIPAL_TTL = timedelta(seconds=10)
KEY_PREFIX = "olk"
_SHOWN_PREFIX_LENGTH = 12


class TenantService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._principals: dict[str, tuple[Principal, datetime]] = {}
        """Valid keys seen recently: key hash → (principal, good until)."""
        self._revoked: set[str] = set()
        """Hashes of keys this process revoked: never remembered again, even by a look-up
        that read the key just before the revocation committed."""

    def create_tenant(
        self,
        *,
        name: str,
        default_region: str = "US",
        default_locale: str = "en-US",
        grace_period: timedelta = DEFAULT_GRACE_PERIOD,
    ) -> CreatedTenant:
        """Create a tenant and its first `admin` API key, whose secret is returned once."""
        check_tenant_name(name)
        region = check_region(default_region)
        locale = check_locale(default_locale, field="default_locale")
        check_grace_period(grace_period)

        def work(uow: UnitOfWork) -> CreatedTenant:
            if uow.tenants.by_name(name) is not None:
                raise Conflict(f"name: a tenant named {name!r} already exists")
            tenant = uow.tenants.add(
                name=name,
                default_region=region,
                default_locale=locale,
                grace_period=grace_period,
                created_at=self._ctx.clock.now(),
            )
            key = self._add_key(uow, tenant_id=tenant.id, name="admin", scope=Scope.ADMIN)
            return CreatedTenant(tenant=tenant, admin_key=key)

        return self._ctx.transactions.write(work)

    def list_tenants(self) -> list[Tenant]:
        return self._ctx.transactions.read(lambda uow: uow.tenants.all())

    def get_tenant(self, *, name: str) -> Tenant:
        check_storable(("name", name))
        tenant = self._ctx.transactions.read(lambda uow: uow.tenants.by_name(name))
        if tenant is None:
            raise NotFound(kind="tenant", key=name)
        return tenant

    def set_pages(self, *, tenant_id: int, pages: PageSettings) -> Tenant:
        """Replace the tenant's page settings (branding, undo period, link lifetime)."""
        checked = check_page_settings(pages)
        self._ctx.tenant(tenant_id)

        def work(uow: UnitOfWork) -> Tenant:
            uow.tenants.set_pages(tenant_id, checked)
            tenant = uow.tenants.get(tenant_id)
            assert tenant is not None
            return tenant

        tenant = self._ctx.transactions.write(work)
        self._ctx.forget_tenant(tenant_id)
        return tenant

    def create_key(self, *, tenant_id: int, name: str, scope: Scope) -> CreatedKey:
        label = check_text(name, field="name", max_length=100)

        self._ctx.tenant(tenant_id)

        def work(uow: UnitOfWork) -> CreatedKey:
            return self._add_key(uow, tenant_id=tenant_id, name=label, scope=scope)

        return self._ctx.transactions.write(work)

    def _add_key(self, uow: UnitOfWork, *, tenant_id: int, name: str, scope: Scope) -> CreatedKey:
        secret = new_secret(KEY_PREFIX)
        key = uow.api_keys.add(
            tenant_id=tenant_id,
            name=name,
            prefix=secret[:_SHOWN_PREFIX_LENGTH],
            key_hash=self._ctx.hasher.secret_hash(secret),
            scope=scope,
            created_at=self._ctx.clock.now(),
        )
        return CreatedKey(key=key, secret=secret)

    def list_keys(self, *, tenant_id: int) -> list[ApiKey]:
        return self._ctx.transactions.read(lambda uow: uow.api_keys.of_tenant(tenant_id))

    def revoke_key(self, *, tenant_id: int, key_id: int) -> ApiKey:
        """Revoke a key of this tenant; revoking a revoked key changes nothing."""

        def work(uow: UnitOfWork) -> ApiKey:
            key = uow.api_keys.get(tenant_id, key_id)
            if key is None:
                raise NotFound(kind="api key", key=str(key_id))
            if key.revoked_at is None:
                uow.api_keys.revoke(key_id, at=self._ctx.clock.now())
            revoked = uow.api_keys.get(tenant_id, key_id)
            assert revoked is not None
            return revoked

        revoked = self._ctx.transactions.write(work)
        self._revoked.add(revoked.key_hash)
        self._principals.pop(revoked.key_hash, None)
        return revoked

    def authenticate(self, *, secret: str) -> Principal:
        """Who the API key `secret` speaks for; AuthenticationFailed if unknown or revoked.

        A valid key is remembered for `PRINCIPAL_TTL`, which saves a database read on
        nearly every API request. Revoking a key takes effect at once in the process that
        revokes it, and within `PRINCIPAL_TTL` in other processes.
        """
        if not secret.startswith(f"{KEY_PREFIX}_") or len(secret) > 100 or not secret.isascii():
            raise AuthenticationFailed
        key_hash = self._ctx.hasher.secret_hash(secret)
        if key_hash in self._revoked:
            raise AuthenticationFailed
        now = self._ctx.clock.now()
        remembered = self._principals.get(key_hash)
        if remembered is not None and now < remembered[1]:
            return remembered[0]
        key = self._ctx.transactions.read(lambda uow: uow.api_keys.by_hash(key_hash))
        if key is None or key.revoked_at is not None:
            self._principals.pop(key_hash, None)
            raise AuthenticationFailed
        principal = Principal(tenant_id=key.tenant_id, key_id=key.id, scope=key.scope)
        self._principals[key_hash] = (principal, now + PRINCIPAL_TTL)
        return principal
