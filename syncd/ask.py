"""One call to the library server on behalf of a CLI command, with the documented exit codes:
1 refused (the server's message is printed), 5 token rejected, 6 server unreachable."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import click

from syncd.errors import ApiError, SyncdError, TransportError, Unauthorized
from syncd.sync.client import ApiClient, RetryPolicy

T = TypeVar("T")
EXIT_REFUSED = 1
EXIT_UNAUTHORIZED = 5
EXIT_UNREACHABLE = 6
# A person is waiting: retry a hiccup once, then say the server is unreachable.
CLI_RETRY = RetryPolicy(attempts=2, base_s=0.2, cap_s=1.0)


class Refused(SyncdError):
    """The request cannot be done as asked (no such folder, file not in the trash): exit 1."""


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    click.echo(f"syncd: {message}", err=True)
    sys.exit(code)


def ask_server(url: str, token: str, work: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run `work` against the server at `url`; every failure exits with its code."""

    async def run() -> T:
        async with ApiClient(url, token, retry=CLI_RETRY) as api:
            return await work(api)

    try:
        return asyncio.run(run())
    except TransportError as exc:
        fail(f"cannot reach the server at {url} ({exc})", EXIT_UNREACHABLE)
    except Unauthorized:
        fail(f"the server at {url} rejected the token (401): check the token", EXIT_UNAUTHORIZED)
    except ApiError as exc:
        fail(f"the server refused: {exc.message} ({exc.code})")
    except Refused as exc:
        fail(str(exc))
