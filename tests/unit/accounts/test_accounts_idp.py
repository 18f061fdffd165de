"""The fake identity provider checks signature, issuer, audience, expiry and identifiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from citycredit.accounts.idp import FakeIdentityProvider, IdentityProvider
from citycredit.shared.errors import FieldError
from support import id_number, uscc

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
CO = uscc("91", "610802", "MA6DP001")
PERSON = id_number("610802", "19800304", "123")


def digest(n: str) -> str:
    return f"digest-of-{n[-4:]}"


def test_fake_is_an_identity_provider() -> None:
    idp: IdentityProvider = FakeIdentityProvider()
    assert idp.name == "fake"


def test_organisation_and_person_assertions() -> None:
    idp = FakeIdentityProvider()
    org = idp.verify(idp.issue(nonce="n1", now=NOW, uscc=CO), now=NOW, digest=digest)
    assert (org.kind, org.uscc, org.id_digest, org.assurance, org.nonce) == (
        "organisation",
        CO,
        None,
        3,
        "n1",
    )
    tok = idp.issue(nonce="n2", now=NOW, id_number=PERSON, assurance=2)
    person = idp.verify(tok, now=NOW, digest=digest)
    assert person.kind == "natural_person" and person.id_digest == digest(PERSON)
    assert person.uscc is None and PERSON not in repr(person)


def test_refusals_name_the_field_and_never_echo_an_id_number() -> None:
    idp = FakeIdentityProvider()
    other = FakeIdentityProvider(key=b"someone-else")
    good = idp.issue(nonce="n", now=NOW, uscc=CO)
    head, body, sig = good.split(".")
    bad_id = idp.issue(nonce="n", now=NOW, id_number=PERSON[:-1] + "0")
    cases = {
        "garbage": "not-a-token",
        "signature": other.issue(nonce="n", now=NOW, uscc=CO),
        "tampered": f"{head}.{body[:-2]}AA.{sig}",
        "issuer": idp.issue(nonce="n", now=NOW, uscc=CO, issuer="https://evil"),
        "audience": idp.issue(nonce="n", now=NOW, uscc=CO, audience="other-app"),
        "expired": idp.issue(nonce="n", now=NOW - timedelta(hours=1), uscc=CO),
        "no_identifier": idp.issue(nonce="n", now=NOW),
        "bad_id": bad_id,
    }
    for name, token in cases.items():
        with pytest.raises(FieldError) as exc:
            idp.verify(token, now=NOW, digest=digest)
        assert exc.value.field == "id_token", name
        assert PERSON[:-1] not in str(exc.value), name
