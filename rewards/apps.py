from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards, qualification and fraud"

    def ready(self) -> None:
        import events
        from rewards import consumers

        events.register("conversion.recorded", consumers.conversion_evaluate_after_commit)
        events.register("refund.recorded", consumers.conversion_refunded_after_commit)

        from rewards.friend_offer import friend_offers_erase, offer_for_api
        from tracking import offers, privacy

        offers.register(offer_for_api)
        privacy.erase_section_register("friend_offers", friend_offers_erase)
