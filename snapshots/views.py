"""Library pages. Thin: validate, call one service or query, render."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


def library(request):
    return render(request, "snapshots/library.html", {})


@login_required
def link_add(request):
    return render(request, "snapshots/link_add.html", {})


def tags(request):
    return render(request, "snapshots/tags.html", {})
