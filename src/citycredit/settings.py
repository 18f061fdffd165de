"""Typed settings (pydantic-settings). Read only by the composition root; nothing at import."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from citycredit.accounts.policy import SecurityPolicy

DEV_SECRET = "dev-only-secret-change-me"


class LedgerWitness(BaseModel):
    """A witness (c2sp.org/tlog-witness) the log submits its checkpoints to (G22)."""

    name: str = Field(min_length=1, max_length=100, description="label stored with cosignatures")
    url: str = Field(pattern=r"^https?://", description="prefix: POST <url>/add-checkpoint")
    vkey: str = Field(description="the witness's cosignature verifier key (<name>+<id>+<key>)")

    @field_validator("vkey")
    @classmethod
    def _parse_vkey(cls, v: str) -> str:
        from citycredit.ledger.witness import cosigner_verifier_from_vkey

        cosigner_verifier_from_vkey(v)  # KeyFormatError (a ValueError) names what is wrong
        return v.strip()


class Settings(BaseSettings):
    """Everything configurable about one citycredit deployment."""

    model_config = SettingsConfigDict(env_prefix="CITYCREDIT_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(
        default=Path("var"), description="files: SQLite db, uploads, synthetic city"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is a SQLite file in data_dir"
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET),
        description="keys the ID-number digests and token hashes; must be set in production",
    )
    # PostgreSQL connections each server process keeps open, and how many more it may open for
    # a burst (closed again when returned). A unit of work that finds every kept connection
    # busy opens a new one (a server process fork, cold caches: ~10 ms of CPU) and closes it
    # right after — under steady load above the kept size that churn cost a third of the
    # throughput (benchmarks/checks.py prints connections opened per round). Keep the size
    # at least the requests a process serves at once; mind PostgreSQL's max_connections
    # (processes × (size + overflow) plus the jobs).
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    catalog_dir: Path | None = Field(default=None, description="override the packaged catalog")
    holidays_dir: Path | None = Field(default=None, description="extra holiday data files")
    host: str = "127.0.0.1"
    port: int = 8000
    # `citycredit serve`: server processes, each with its own listening socket (web/serve.py).
    workers: int = Field(default=1, ge=1)
    # Jobs: the server runs due sweeps on this interval (seconds); 0 disables the scheduler.
    job_interval_seconds: int = 60
    # The job log (job_runs, ~14,000 runs a day): runs older than this are deleted daily, except
    # each job's newest successful run (its due time is read from it).
    job_run_retention_days: int = Field(
        default=90, ge=1, description="job_runs: days a run is kept (each job's newest ok: always)"
    )
    # After start-up, move the heap built so far (catalog, lists, app, ORM mappers …) out of
    # the collector's reach (gc.freeze) in each server process: a full collection then scans
    # only what requests allocated since. Without it, a full pass over ~190,000 start-up
    # objects stopped every request of a worker for 130 ms on a 2-core machine (docs/benchmarks.md).
    gc_freeze: bool = True
    # First start: build a synthetic Yulin city when the database has no subjects, with a
    # credit-office account whose bearer token goes to data_dir/dev-tokens.json. Unset, it is on
    # in development only (`bash scripts/start.sh`); production refuses it (validators below).
    seed_synthetic_city: bool = Field(
        default=False, description="first start: synthetic city + dev tokens (development only)"
    )
    synthetic_subjects: int = 3000
    synthetic_seed: int = 20261125
    max_upload_mb: int = 200
    # Files this large or larger take the vectorised intake (ingest/fast); None = never.
    intake_fast_min_bytes: int | None = 2_000_000
    # SQLite durability: FULL (default) survives power loss; NORMAL only process crashes (the
    # test suite may choose it for speed; production refuses it, db/durability.py).
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # Monthly whole-city evaluation (evaluation/scheduled.py): from this day of the month, with
    # this engine; 0 turns the job off.
    evaluation_batch_day: int = Field(default=1, ge=0, le=28)
    evaluation_batch_engine: Literal["db", "duckdb", "spark"] = "duckdb"
    # Storage limitation (PIPL art. 19; docs/personal-data.md): days files written to disk are
    # kept before the daily purge jobs delete them; 0 = keep forever.
    export_file_retention_days: int = Field(
        default=30,
        ge=0,
        description="双公示 export files (ID numbers in clear): days after the export; 0 = keep",
    )
    # G35: an approved download of export files with natural persons' data is a watermarked
    # copy, refused (410) and deleted this many hours after the approval (at most 24: the goal).
    export_download_expiry_hours: int = Field(
        default=24,
        ge=1,
        le=24,
        description="approved export download copies: hours after the approval until deletion",
    )
    # G35: a download request nobody approved or refused lapses after this many hours.
    export_download_request_lapse_hours: int = Field(
        default=72,
        ge=1,
        le=24 * 30,
        description="pending export download requests: hours until they lapse undecided",
    )
    # G30: how an ID number is masked where a masked form may be shown (the subject's own view,
    # authorised views); public views hide it completely. rules.md §13.4: e.g. 6108**********12X.
    id_mask_keep_first: int = Field(default=4, ge=0, le=6)
    id_mask_keep_last: int = Field(default=4, ge=0, le=4)
    # G30: natural persons' names found inside free text (违法事实 …) on public views are shown
    # masked like a name field (张*), whoever's record it is; off only where a rule says so.
    mask_names_in_public_text: bool = True
    feed_file_retention_days: int = Field(
        default=30,
        ge=0,
        description="sharing feed files: days after a file was first written; 0 = keep",
    )
    # Accounts, sessions, lockout, TOTP, audit retention (accounts.policy; JSON in the env).
    security: SecurityPolicy = Field(default_factory=SecurityPolicy)
    # 信用数据链 (ledger): the crypto suite is chosen when the log is created and never changes.
    ledger_suite: Literal["sha256-ed25519", "sm3-sm2"] = "sha256-ed25519"
    ledger_origin: str = Field(
        default="yulin.citycredit/ledger", description="checkpoint origin line"
    )
    ledger_skey: SecretStr | None = Field(
        default=None,
        description="C2SP private key of the log; else data_dir/ledger.skey (dev only)",
    )
    # G19: the log's key inside a PKCS#11 token (an HSM, or SoftHSM in tests): the platform holds
    # only the PIN; the private key is generated in the token, non-extractable (ledger/pkcs11.py).
    ledger_signer: Literal["key", "pkcs11"] = Field(
        default="key", description="key: CITYCREDIT_LEDGER_SKEY / dev file; pkcs11: a token"
    )
    ledger_pkcs11_module: Path | None = Field(
        default=None, description="the token vendor's PKCS#11 library (.so)"
    )
    ledger_pkcs11_token: str = Field(default="citycredit-ledger", description="token label")
    ledger_pkcs11_key_label: str = Field(default="ledger", description="key pair label")
    ledger_pkcs11_pin: SecretStr | None = Field(default=None, description="the token's user PIN")
    # Witnesses the `ledger_witness` job submits each new checkpoint to (docs/ledger.md), JSON.
    ledger_witnesses: list[LedgerWitness] = Field(
        default_factory=list, description='[{"name": …, "url": …, "vkey": …}, …]'
    )
    # Merge delay (docs/ledger.md "Merge delay"): every accepted entry is in a signed checkpoint
    # within ledger_mmd_seconds (declared; the `ledger_merge_delay` job raises an alarm past it).
    # The server runs the sequencer every ledger_sequence_seconds (0: only the `deliveries`
    # sweep sequences, on the scheduler's tick).
    ledger_mmd_seconds: int = Field(default=60, ge=1, description="declared maximum merge delay")
    ledger_sequence_seconds: float = Field(
        default=5, ge=0, description="server's sequencer interval; 0 = off"
    )
    # The hourly `ledger_verify` job is incremental (docs/ledger.md "Verification"): the leaves
    # and record versions added since the last verified head, plus this many older leaves and
    # older record versions (by id) in rotation; `citycredit ledger verify` re-reads everything.
    ledger_verify_window: int = Field(
        default=1_048_576, ge=1, description="older leaves (and record versions) per hourly check"
    )

    # The portal's address as the public reaches it (behind a proxy: the proxy's), printed with
    # the QR code on PDF credit reports; empty: the address the request came in on.
    public_base_url: str = Field(
        default="", description="e.g. https://credit.yulin.gov.cn — for links printed on reports"
    )

    # Personal data at rest (docs/adr/0008): keyring file outside the database, or its JSON.
    personal_keys: SecretStr | None = Field(
        default=None,
        description="keyring of personal-data keys (path or JSON); else data_dir/personal.keys",
    )
    personal_cipher: Literal["aes-256-gcm", "sm4-gcm"] = "aes-256-gcm"  # new keys (密评: sm4)

    @model_validator(mode="before")
    @classmethod
    def _seed_in_development_by_default(cls, data: Any) -> Any:
        # Unset, seed_synthetic_city follows the environment: a development start gets its
        # synthetic city; a test or production deployment never seeds unless told to (and
        # production refuses even that, below).
        if isinstance(data, dict) and data.get("seed_synthetic_city") is None:
            environment = data.get("environment", "development")
            return {**data, "seed_synthetic_city": environment == "development"}
        return data

    @model_validator(mode="after")
    def _refuse_missing_personal_keys(self) -> Settings:
        if self.environment == "production" and self.personal_keys is None:
            raise ValueError("CITYCREDIT_PERSONAL_KEYS must name the personal-data keyring")
        return self

    @model_validator(mode="after")
    def _sequence_within_mmd(self) -> Settings:
        if self.ledger_sequence_seconds >= self.ledger_mmd_seconds:
            raise ValueError(
                f"ledger_sequence_seconds={self.ledger_sequence_seconds:g} must be below "
                f"ledger_mmd_seconds={self.ledger_mmd_seconds}: the declared merge delay "
                "could not be kept"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _normalise_pg_url(cls, v: str | None) -> str | None:
        # Accept the libpq-style URL an operator will paste; use psycopg 3 as the driver.
        if v and v.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + v.split("://", 1)[1]
        return v

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Settings:
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("CITYCREDIT_SECRET_KEY must be set in production")
        if self.ledger_signer == "pkcs11" and (
            self.ledger_pkcs11_module is None or self.ledger_pkcs11_pin is None
        ):
            raise ValueError(
                "CITYCREDIT_LEDGER_SIGNER=pkcs11 needs CITYCREDIT_LEDGER_PKCS11_MODULE (the "
                "token's PKCS#11 library) and CITYCREDIT_LEDGER_PKCS11_PIN"
            )
        if (
            self.environment == "production"
            and self.ledger_signer == "key"
            and self.ledger_skey is None
        ):
            raise ValueError(
                "CITYCREDIT_LEDGER_SKEY must hold the ledger signing key in production"
            )
        if self.environment == "production" and not self.database_url:
            raise ValueError("CITYCREDIT_DATABASE_URL must name PostgreSQL in production")
        if self.environment == "production" and self.seed_synthetic_city:
            raise ValueError(
                "CITYCREDIT_SEED_SYNTHETIC_CITY must be off in production: the synthetic city "
                "comes with a credit-office token written to dev-tokens.json"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'citycredit.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")
