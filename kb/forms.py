from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from kb.models import UserSettings

# Django 5.2 says this when a password is too short, but its own zh_Hans catalogue only has the older
# "%(min_length)d" wording, so Chinese readers saw English. Naming the sentence here keeps kb's
# translation of it in kb's catalogue (makemessages would otherwise drop it as unused).
PASSWORD_TOO_SHORT = ngettext_lazy(
    "This password is too short. It must contain at least %d character.",
    "This password is too short. It must contain at least %d characters.",
    "min_length",
)


class FirstAccountForm(UserCreationForm):
    """The first account of a fresh install; it becomes the administrator."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
        help_texts = {"username": _("You will sign in with this name.")}


class UserSettingsForm(forms.ModelForm):
    """The account settings page's choices (the library view is switched on the library itself)."""

    class Meta:
        model = UserSettings
        fields = ("language", "new_links_private", "theme")


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("What is it for?"),
        max_length=100,
        required=False,
        help_text=_("A name you will recognise, such as “browser extension” or “laptop script”."),
    )


class LibraryViewForm(forms.Form):
    view = forms.ChoiceField(choices=UserSettings.LibraryView.choices)
