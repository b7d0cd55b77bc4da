"""/cityfabric/v1/subscriptions/{id}/events: a subscription's notifications, live, as SSE.

Not part of NGSI-LD: a server-sent-events stream (text/event-stream) for the
dashboard and scripts. Each Notification the delivery worker builds for the
subscription is one `data:` line of JSON; the endpoint is still notified as usual.
Comments keep idle connections open and say when a slow reader lost notifications.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cityfabric.api.request import tenant_of
from cityfabric.notify.service import SubscriptionService
from cityfabric.notify.stream import Streams

router = APIRouter(prefix="/cityfabric/v1", tags=["subscriptions"])

KEEPALIVE: Final = 15.0  # seconds between comments on an idle stream
SSE: Final = {200: {"content": {"text/event-stream": {}}, "description": "the event stream"}}


@router.get(
    "/subscriptions/{subscriptionId}/events",
    summary="Stream a subscription's notifications (server-sent events)",
    responses=SSE,  # type: ignore[arg-type]
)
async def subscription_events(request: Request, subscriptionId: str) -> Response:
    tenant = tenant_of(request)
    subscriptions: SubscriptionService = request.app.state.subscriptions
    await subscriptions.get(tenant, subscriptionId)  # 404 for an unknown one
    streams: Streams = request.app.state.streams
    return StreamingResponse(
        _events(streams, tenant, subscriptionId),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(streams: Streams, tenant: str, subscription_id: str) -> AsyncIterator[bytes]:
    with streams.listen(tenant, subscription_id) as listener:
        yield b": listening\n\n"  # the client knows from here on nothing is missed
        reported = 0
        while True:
            try:
                body = await asyncio.wait_for(listener.queue.get(), KEEPALIVE)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if listener.dropped > reported:
                yield f": {listener.dropped - reported} notifications lost\n\n".encode()
                reported = listener.dropped
            yield b"data: " + body + b"\n\n"
