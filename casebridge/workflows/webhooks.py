"""WebhookDispatcherWorkflow: one per webhook subscription, workflow id ``webhooks-<subscription id>``.

Delivers the subscription's outbox rows one after another, oldest first, so a receiver sees each
case's events in seq order. A failing delivery is retried by its activity's retry policy with
exponential backoff (durable: the retry schedule lives in Temporal), and it holds back the ones
behind it. Each activity call retries for at most ``RETRY_WINDOW``; between calls the workflow
measures, with workflow time, how long the subscription has failed, and after a day disables it.

While the queue is empty the workflow polls it on a durable timer that backs off from 1 s to 30 s
(the projection activity has no Temporal client to signal with); the ``new_events`` signal ends a
wait early. It continues as new before its history grows long.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from casebridge.activities.webhooks import WebhookActivities
    from casebridge.domain.webhooks import (
        DELIVERY_FAILED,
        IDLE_WAIT_FIRST,
        REQUEST_TIMEOUT,
        RETRY_BACKOFF,
        RETRY_INITIAL,
        RETRY_MAX_INTERVAL,
        RETRY_WINDOW,
        DeliveryOutcome,
        DisableRequest,
        DispatcherInput,
        DispatcherState,
        NextDeliveriesRequest,
        next_idle_wait,
        should_disable,
    )

BATCH = 100
# Continue as new at this many history events (an idle poll adds ~8, a delivery ~6).
HISTORY_LIMIT = 10_000
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# No maximum attempts: the call's schedule-to-close window bounds it, and the workflow calls again,
# then at the longest interval straight away (no new burst of quick retries every window).
DELIVERY_RETRY = RetryPolicy(
    initial_interval=RETRY_INITIAL,
    backoff_coefficient=RETRY_BACKOFF,
    maximum_interval=RETRY_MAX_INTERVAL,
)
STILL_FAILING_RETRY = RetryPolicy(
    initial_interval=RETRY_MAX_INTERVAL,
    backoff_coefficient=1.0,
    maximum_interval=RETRY_MAX_INTERVAL,
)
DELIVERY_ATTEMPT_TIMEOUT = REQUEST_TIMEOUT + timedelta(seconds=20)  # the POST plus two short queries


def dispatcher_id(subscription_id: str) -> str:
    return f"webhooks-{subscription_id}"


def receiver_failed(error: ActivityError) -> bool:
    """Whether an attempt reached the receiver and failed. A call that timed out before any attempt
    ran (no worker for an hour) or failed on the database says nothing against the receiver."""
    cause: BaseException | None = error.cause
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type == DELIVERY_FAILED:
            return True
        cause = cause.__cause__
    return False


@workflow.defn
class WebhookDispatcherWorkflow:
    @workflow.init
    def __init__(self, args: DispatcherInput) -> None:
        self.state: DispatcherState = args.state
        self._wake = False

    @workflow.signal
    def new_events(self) -> None:
        """There may be new deliveries, or the subscription was enabled again: look now."""
        self._wake = True

    @workflow.query
    def status(self) -> DispatcherState:
        return self.state

    @workflow.run
    async def run(self, args: DispatcherInput) -> str:
        idle_wait = IDLE_WAIT_FIRST
        while not self._history_is_long():
            self._wake = False
            queue = await workflow.execute_activity_method(
                WebhookActivities.next_deliveries,
                NextDeliveriesRequest(args.subscription_id, BATCH),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY,
            )
            if not queue.active:
                if self._wake:  # enabled again while we looked
                    continue
                return "inactive"
            if not queue.delivery_ids:
                try:
                    await workflow.wait_condition(lambda: self._wake, timeout=idle_wait)
                except TimeoutError:
                    pass
                idle_wait = next_idle_wait(idle_wait)
                continue
            idle_wait = IDLE_WAIT_FIRST
            for delivery_id in queue.delivery_ids:
                outcome = await self._deliver(args.subscription_id, delivery_id)
                if outcome is None:
                    return "disabled"
                if outcome is DeliveryOutcome.INACTIVE or self._history_is_long():
                    break  # the next look at the queue says whether it was enabled again
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(DispatcherInput(args.subscription_id, self.state))

    @staticmethod
    def _history_is_long() -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= HISTORY_LIMIT

    async def _deliver(self, subscription_id: str, delivery_id: int) -> DeliveryOutcome | None:
        """Deliver one row, however long that takes; None once the subscription has been disabled."""
        while True:
            started = workflow.now()
            self._wake = False
            try:
                outcome = await workflow.execute_activity_method(
                    WebhookActivities.deliver,
                    delivery_id,
                    start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
                    schedule_to_close_timeout=RETRY_WINDOW,
                    retry_policy=DELIVERY_RETRY if self.state.failing_since is None else STILL_FAILING_RETRY,
                )
            except ActivityError as error:
                if not receiver_failed(error):
                    continue
                if self.state.failing_since is None:
                    self.state.failing_since = started
                if not should_disable(self.state.failing_since, workflow.now()):
                    # The call gave up right after its last attempt: keep the pace before the next
                    # one, unless woken (deactivated or enabled again: the next attempt finds out).
                    try:
                        await workflow.wait_condition(lambda: self._wake, timeout=RETRY_MAX_INTERVAL)
                    except TimeoutError:
                        pass
                    continue
                await workflow.execute_activity_method(
                    WebhookActivities.disable_subscription,
                    DisableRequest(subscription_id, workflow.now(), self.state.failing_since),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=DB_RETRY,
                )
                workflow.logger.warning("webhook subscription disabled after failing for a day")
                return None
            if outcome is DeliveryOutcome.DELIVERED:
                self.state.failing_since = None
                self.state.delivered += 1
            return outcome
