"""A Django project that embeds yamlcron: ``gunicorn -w 4 djangosite.wsgi``."""
