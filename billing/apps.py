from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "SaaS billing (plans, subscriptions, usage)"

    def ready(self) -> None:
        # The apps below billing ask plan limits through `referral_saas.limits`; billing answers.
        from billing import limits as billing_limits  # models are ready only now
        from referral_saas import limits

        limits.install(billing_limits)
