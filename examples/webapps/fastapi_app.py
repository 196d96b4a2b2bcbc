"""A FastAPI app that embeds yamlcron in its lifespan: ``uvicorn --workers 4 fastapi_app:app``.

The same pattern serves any Starlette app: the lifespan starts the scheduler when a worker
starts serving and stops it (waiting for runs under way) when the worker shuts down.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from yamlcron import Yamlcron

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.environ.get("YAMLCRON_FILE", os.path.join(HERE, "jobs.yaml"))
# yamlcron logs to the "yamlcron" logger: which worker runs the scheduler, which stands by.
logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s: %(message)s")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Leaving the block stops the scheduler: that waits for runs, so it may block the
    # event loop for as long; a worker that is shutting down serves nothing meanwhile.
    with Yamlcron(MANIFEST, store=os.environ.get("YAMLCRON_STORE")) as cron:
        cron.start()
        app.state.yamlcron = cron
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/yamlcron")
def status() -> dict[str, object]:
    return {"pid": os.getpid(), "standing_by": app.state.yamlcron.standing_by}
