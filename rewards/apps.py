from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards, qualification and fraud"

    def ready(self) -> None:
        import events
        from rewards import consumers

        events.register("conversion.recorded", consumers.conversion_evaluate_after_commit)
        events.register("refund.recorded", consumers.conversion_refunded_after_commit)

        from rewards.friend_offer import offer_for_api
        from tracking import offers

        offers.register(offer_for_api)
