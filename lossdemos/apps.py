from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LossdemosConfig(AppConfig):
    name = "lossdemos"
    verbose_name = _("Loss demos")
