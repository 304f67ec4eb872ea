from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards, qualification and fraud"

    def ready(self) -> None:
        import events
        from rewards.delivery import outbox_consumer

        # Outbound webhooks record every event in their outbox.
        for event_type in events.EVENT_TYPES:
            events.register(event_type, outbox_consumer)
