"""Firing a store's jobs: the loop, the runner, the lease, the pool and the recorder.

``loop.Scheduler`` is the entry point; ``yamlcron.firing`` holds the decisions it applies
and ``yamlcron.schedulerconfig`` its settings.
"""
