"""Response models of the integration surfaces (共享调度, 归集, 双公示 exports).

The routes declare them with ``response_model=``, so ``/openapi.json`` (and ``/docs``) describe
every key an answer carries, and the answer is validated against the same model: a key added to
a service's dict without its documentation fails the tests (``extra="forbid"``) instead of being
dropped silently. One module per surface; `common` holds the error body and the shared types.
"""
