"""The composition root: the URL configuration that mounts every app. It sits above all the apps
(it imports their views) and nothing imports it; Django finds it through `ROOT_URLCONF`."""
