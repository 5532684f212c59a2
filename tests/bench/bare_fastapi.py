"""The startup benchmark's baseline: a bare FastAPI app, one route, under the uvicorn options given
as JSON in the first argument (the ones ``api-serve`` passes). Loads FastAPI and uvicorn only."""

import json
import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    options = json.loads(sys.argv[1])
    options.pop("factory", None)  # the app itself is given, not a factory
    uvicorn.run(app, **options)
