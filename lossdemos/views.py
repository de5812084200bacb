"""Loss demo pages."""

from django.shortcuts import render


def index(request):
    return render(request, "lossdemos/index.html", {})
