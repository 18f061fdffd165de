"""Response models of the HTTP API v1, one module per area: `intake` (归集), `sharing` (共享调度),
`exports` (双公示 exports and their proofs), `archive` (信用档案, search, the portal's 双公示),
`account` (an institution's authorised read, the subject's own account), `rights` (objections,
repairs, inbox, authorisations), `privacy`, `checks` (信用核查, commitments), `lists`,
`evaluation`, `ledger`, `reports`, `quality` (数据质量), `admin` (alarms, security policy), `auth`,
`selfservice`;
`common` holds the error body, the shared types and `errors(...)`.

Most routes declare them with ``response_model=``, so ``/openapi.json`` (and ``/docs``) describe
every key an answer carries, and the answer is validated against the same model: a key added to
a service's dict without its documentation fails the tests (``extra="forbid"``) instead of being
dropped silently. The hot reads (the public archive, search, 双公示 and list pages, the ledger
checkpoint, a subject's lists and evaluation, the credit check and a stored check) and the
stored JSON answers (a check as made, the quality report's snapshots) document
their model with ``responses={200: {"model": …}}`` and are not validated per request; their
contract tests (tests/e2e/test_openapi_contract_*.py) validate real answers against the spec.
"""
