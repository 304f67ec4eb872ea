from django.apps import AppConfig


class HostedConfig(AppConfig):
    name = "hosted"
    verbose_name = "Hosted advocate and friend pages"

    def ready(self) -> None:
        import events
        from hosted import consumers

        events.register("advocate.created", consumers.welcome_advocate_enrolled_through_the_api)
        events.register("reward.created", consumers.tier_reached)
        events.register("reward.issued", consumers.reward_earned)
