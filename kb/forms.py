from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _


class FirstAccountForm(UserCreationForm):
    """The first account of a fresh install; it becomes the administrator."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
        help_texts = {"username": _("You will sign in with this name.")}
