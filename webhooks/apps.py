from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Outbound webhooks: endpoints, deliveries, retries"

    def ready(self) -> None:
        import events
        from webhooks.delivery import outbox_consumer

        # Every event is offered to the merchant's endpoints; the outbox writes a message only
        # when an enabled endpoint subscribes to it.
        for event_type in events.EVENT_TYPES:
            events.register(event_type, outbox_consumer)
