from django.apps import AppConfig


class ServerConfig(AppConfig):
    name = "server"
    verbose_name = "Site: the URL root and the demo merchant (`seed_demo`)"
