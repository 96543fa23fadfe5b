"""A :class:`CloudHttp` whose answers come from a function instead of the network.

For what a real server cannot be made to send (the emulator covers everything else)::

    http = mock_http(lambda request: httpx.Response(200, json={}))
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from station.cloud.http import CloudHttp

Handler = Callable[[httpx.Request], httpx.Response]


def mock_http(handler: Handler, **kwargs: object) -> CloudHttp:
    """Three distinct hosts, all answered by ``handler``; ``kwargs`` go to CloudHttp."""
    return CloudHttp(
        account_url="https://account.test",
        api_url="https://api.test",
        print_url="https://print.test",
        client_id="cid",
        transport=httpx.MockTransport(handler),
        **kwargs,  # type: ignore[arg-type]
    )
