"""yamlcron's HTTP surface (``yamlcron run --http HOST:PORT``): health, metrics, the JSON API.

``options`` reads the settings (light: the command line imports it); ``server`` binds,
serves and stops with the service; ``routes`` sends each request to ``health``, ``api``,
the metrics or the status page (``pages``); ``web`` holds the request and response
values they share. Nothing here imports the store or the reconciler: every answer comes
from the ``Yamlcron`` service.
"""
