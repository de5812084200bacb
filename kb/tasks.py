"""Site-wide tasks."""

from django_tasks import task


@task()
def ping() -> str:
    """Does nothing: enqueue it to see the worker pick work up (the health check then shows it)."""
    return "pong"
