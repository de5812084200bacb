import os

from django.core.asgi import get_asgi_application

from kb.serving import settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kb.settings")
application = get_asgi_application()
settle()  # every view loaded, and left out of the garbage collector's rounds
