"""The composition root: settings → engine/sessions → catalog, calendar, digests → services.

Nothing here runs at import; every entry point (server, CLI, tests) calls build_container().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from citycredit.db.engine import make_engine, make_session_factory
from citycredit.db.uow import UnitOfWork
from citycredit.kernel.outbox import Consumer
from citycredit.settings import Settings
from citycredit.shared.calendar import LegalCalendar
from citycredit.shared.clock import Clock, SystemClock
from citycredit.shared.digest import Digester

if TYPE_CHECKING:
    from citycredit.accounts.idp import IdentityProvider
    from citycredit.catalog.model import Catalog
    from citycredit.ledger.signers import NoteSigner
    from citycredit.privacy.keys import CodecProvider
    from citycredit.shared.personal import PersonalCodec


@dataclass
class Container:
    """Everything a service needs, built once per process (or per test)."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    # Test hook: called with the number of rows processed; used to kill a submission mid-way.
    fault_hook: object | None = None
    # Identity providers vouching for subject bindings (accounts.idp); tests add fakes.
    identity_providers: dict[str, IdentityProvider] = field(default_factory=dict)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(
            self.settings.effective_database_url,
            sqlite_synchronous=self.settings.sqlite_synchronous,
            pool_size=self.settings.database_pool_size,
            max_overflow=self.settings.database_max_overflow,
        )

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def catalog(self) -> Catalog:
        from citycredit.catalog.loader import load_catalog

        return load_catalog(self.settings.catalog_dir)

    @cached_property
    def calendar(self) -> LegalCalendar:
        return LegalCalendar(self.settings.holidays_dir)

    @cached_property
    def digester(self) -> Digester:
        return Digester(self.settings.secret_key.get_secret_value().encode())

    @cached_property
    def ledger_signer(self) -> NoteSigner:
        from citycredit.ledger.keys import load_signer

        return load_signer(self.settings)

    @cached_property
    def personal_keys(self) -> CodecProvider:
        """The keyring of this process: checked against the database on first use, reloaded
        when its file changes (privacy.keys)."""
        from citycredit.privacy.keys import CodecProvider

        return CodecProvider(self.settings, engine=self.engine, now=self.clock.now)

    @property
    def personal_codec(self) -> PersonalCodec:
        """Seals natural persons' fields at rest (shared.personal; keys outside the database).

        Raises PersonalDataError (``personal_key_mismatch``, ``personal_key_missing``) when the
        ring is not this database's: nothing is sealed or looked up with a wrong ring.
        """
        return self.personal_keys.codec()

    def uow(self) -> UnitOfWork:
        """A new unit of work (one transaction)."""
        return UnitOfWork(self.session_factory)

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def build_container(settings: Settings | None = None, *, clock: Clock | None = None) -> Container:
    """Build the container from settings (environment when not given)."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    c = Container(settings=settings, clock=clock or SystemClock())
    from citycredit.ledger.store import make_consumer

    c.consumers["ledger"] = make_consumer(c)  # the sequencer of the 信用数据链
    from citycredit.lists.consumer import make_consumer as make_lists_consumer

    c.consumers["lists"] = make_lists_consumer(c)  # external list memberships from intake
    from citycredit.evaluation.consumer import make_consumer as make_evaluation_consumer

    c.consumers["evaluation"] = make_evaluation_consumer(c)  # re-evaluation, coalesced per subject
    from citycredit.sharing.fanout import make_consumer as make_sharing_consumer

    c.consumers["sharing"] = make_sharing_consumer(c)  # 共享调度: record changes into feeds
    return c
