from django.apps import AppConfig


class HostedConfig(AppConfig):
    name = "hosted"
    verbose_name = "Hosted advocate and friend pages"
