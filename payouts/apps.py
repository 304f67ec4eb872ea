from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    verbose_name = "Payouts: advocates' payout details, payouts and their providers"

    def ready(self) -> None:
        from payouts import consumers, services
        from rewards import fulfilment

        # Rewards fulfilled by `payout` are issued when their payout is paid (never by a
        # fulfilment worker, never confirmed by hand); a refund after that is recorded and
        # deducted from the advocate's next payout.
        fulfilment.REGISTRY.setdefault("payout", fulfilment.MerchantFulfilled("payout"))
        # What an advocate owes back is netted against their next Stripe transfer reward
        # when no payout deducts it first.
        fulfilment.register_owed_back(services.owed_back)
        consumers.register()
