"""Alerts to webhooks: JSON POSTs, retried with the project's capped backoff and jitter.

Deliveries live in the store, so any worker sends them and none is lost when one stops: a worker
leases due deliveries, POSTs each (``X-Linectl-Signature: sha256=<HMAC of the body>`` when the
webhook has a secret), and records success, or the next attempt after
:class:`drivers.reconnect.Backoff`'s delay for that attempt, or gives up after ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging

import aiohttp

from drivers.reconnect import Backoff
from linectl.resolver.config import WebhookSection
from linectl.resolver.model import Delivery
from linectl.resolver.services import Services

log = logging.getLogger("linectl.resolver.webhooks")
LEASE_MS = 120_000


def retry_delay(hook: WebhookSection, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1`` after ``attempts`` failures (capped, jittered)."""
    backoff = Backoff(
        initial=hook.backoff_initial_s, maximum=hook.backoff_max_s, failures=max(0, attempts - 1)
    )
    return backoff.on_failure()


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Runs in every worker: delivers due alerts until closed."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._hooks = {h.url: h for h in services.config.webhooks}
        self.recorded = 0
        """Attempts whose outcome is in the store (for observers: :meth:`wait_recorded`)."""
        self._recorded = asyncio.Condition()

    async def wait_recorded(self, attempts: int) -> None:
        """Return once ``attempts`` delivery attempts have been recorded by this worker."""
        async with self._recorded:
            await self._recorded.wait_for(lambda: self.recorded >= attempts)

    async def _note(self) -> None:
        async with self._recorded:
            self.recorded += 1
            self._recorded.notify_all()

    def start(self) -> None:
        if self._task is None and self._hooks:
            self._task = asyncio.create_task(self._run(), name="resolver-webhooks")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _run(self) -> None:
        poll = self.services.config.resolver.webhook_poll_s
        raised = self.services.alert_raised
        while True:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("webhook deliveries failed; trying again in %g s", poll)
            raised.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await raised.wait()

    async def deliver_due(self) -> int:
        """Send every delivery due now; return how many were attempted."""
        services = self.services
        due = await services.store.claim_deliveries(services.now_ms(), LEASE_MS)
        await asyncio.gather(*(self._send(d) for d in due))
        return len(due)

    async def _send(self, delivery: Delivery) -> None:
        services = self.services
        hook = self._hooks.get(delivery.url)
        if hook is None:  # the webhook was removed from the configuration
            await services.store.delivery_failed(
                delivery.id, "webhook no longer configured", None, services.now_ms()
            )
            return
        body = json.dumps(
            {"alert": delivery.alert.to_json(), "attempt": delivery.attempts + 1}
        ).encode()
        headers = {"Content-Type": "application/json"}
        secret = hook.secret()
        if secret:
            headers["X-Linectl-Signature"] = signature(secret, body)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        error = None
        try:
            timeout = aiohttp.ClientTimeout(total=hook.timeout_s)
            async with self._session.post(
                hook.url, data=body, headers=headers, timeout=timeout
            ) as response:
                if response.status < 300:
                    await services.store.delivery_done(delivery.id, services.now_ms())
                    await self._note()
                    return
                error = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = delivery.attempts + 1
        now = services.now_ms()
        if attempts >= hook.max_attempts:
            log.warning(
                "webhook %s: alert %d given up after %d attempts (%s)",
                hook.url,
                delivery.alert.id,
                attempts,
                error,
            )
            await services.store.delivery_failed(delivery.id, error, None, now)
            await self._note()
            return
        delay = retry_delay(hook, attempts)
        log_at = logging.WARNING if attempts == 1 else logging.DEBUG
        log.log(
            log_at,
            "webhook %s: alert %d attempt %d failed (%s); next in %.1f s",
            hook.url,
            delivery.alert.id,
            attempts,
            error,
            delay,
        )
        await services.store.delivery_failed(delivery.id, error, now + int(delay * 1000), now)
        await self._note()
        loop = asyncio.get_running_loop()
        loop.call_later(delay, services.alert_raised.set)  # wake up for the retry
