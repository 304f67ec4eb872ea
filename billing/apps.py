from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "SaaS billing (plans, subscriptions, usage)"
