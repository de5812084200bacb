"""kb: the Django project package — settings, root URLs, layout, accounts, health."""
