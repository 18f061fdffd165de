"""What `citycredit serve --workers N` loads once, before it forks its workers.

The workers are forked from multiprocessing's fork server, which imports this module first:
the platform's modules (~110 MB) and the name recogniser's dictionary (~90 MB, G30) are then
in memory pages the workers share with it, copy-on-write, instead of each worker reading them
again (web/serve.py). Nothing here opens a database connection, a file the workers write or a
thread: a fork copies none of those safely.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("citycredit.serve")


def load() -> None:
    """Import the app's modules and, when public texts are masked, set the recogniser up."""
    import citycredit.bootstrap
    import citycredit.web.app  # noqa: F401
    from citycredit.settings import Settings
    from citycredit.shared import person_names

    if Settings().mask_names_in_public_text:
        person_names.warm_up()
    # What is loaded now is never freed: the collector need not walk it in every worker (a
    # walk writes to the objects' pages, which would then stop being shared).
    gc.freeze()


try:
    load()
except Exception as exc:  # a worker then loads what it needs itself, as without preloading
    from citycredit.web import logformat

    if not logging.getLogger().handlers:  # G39: this line too starts with a UTC time
        logging.basicConfig(handlers=[logformat.stream_handler()])
    log.warning("preload before the workers' fork failed: %s", exc)
