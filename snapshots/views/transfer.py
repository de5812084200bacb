"""Import and export: a browser's bookmarks file or a kb library zip in; the reader's links out as a
bookmarks file, or as the library zip (services.bundle) with their archives and history."""

from __future__ import annotations

import logging
import tempfile
from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from snapshots.capture.store import BlobUnavailable
from snapshots.forms import ExportForm, ImportForm
from snapshots.models import Link
from snapshots.normalize import LinkError
from snapshots.queries import LibraryFilters, library_links, own_tag_names
from snapshots.services.bundle import export_archive_zip
from snapshots.services.bundle_import import import_library_zip, is_zip
from snapshots.services.exporter import export_bookmarks
from snapshots.services.importer import import_bookmarks

logger = logging.getLogger(__name__)


@login_required
def links_import(request: HttpRequest) -> HttpResponse:
    """Upload a Netscape bookmarks file, or a kb library zip (merged into the library with its
    archives and history). A malformed or hostile file imports nothing and says why."""
    result = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if is_zip(upload.read(4)):
                    upload.seek(0)
                    result = import_library_zip(
                        owner=request.user,
                        source=upload,
                        private_default=form.cleaned_data["private"],
                    )
                else:
                    upload.seek(0)
                    result = import_bookmarks(
                        owner=request.user,
                        data=upload.read(),
                        private_default=form.cleaned_data["private"],
                    )
            except LinkError as error:
                form.add_error("file", error.message)
            else:
                form = ImportForm(initial={"private": form.cleaned_data["private"]})
    else:
        form = ImportForm(initial={"private": True})
    return render(request, "snapshots/links_import.html", {"form": form, "result": result})


@login_required
@require_GET
def links_export(request: HttpRequest) -> HttpResponse:
    """The export page; with ?format=html|zip, the download itself (the user's own links)."""
    if "format" not in request.GET:
        return render(
            request,
            "snapshots/links_export.html",
            {
                "form": ExportForm(initial={"format": "html", "tag": request.GET.getlist("tag")}),
                "own_tags": own_tag_names(request.user),
                "count": Link.objects.filter(owner=request.user).count(),
            },
        )
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "snapshots/links_export.html",
            {"form": form, "own_tags": own_tag_names(request.user)},
            status=400,
        )
    filters = LibraryFilters(tags=form.cleaned_data["tag"])
    links = (
        library_links(request.user, filters).filter(owner=request.user).order_by("-created", "-id")
    )
    stamp = date.today().isoformat()
    if form.cleaned_data["format"] == "zip":
        # Spooled: small archives stay in memory, large ones go to a temporary file, never all in RAM.
        stream = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
        try:
            export_archive_zip(links=links, stream=stream, owner_name=request.user.get_username())
        except BlobUnavailable:  # never a zip that silently lacks archives
            logger.warning("the stored files cannot be read for an export", exc_info=True)
            stream.close()
            return HttpResponse(
                _("The stored copies cannot be read right now. Try again in a moment."),
                status=503,
                content_type="text/plain; charset=utf-8",
                headers={"Retry-After": "30"},
            )
        stream.seek(0)
        return FileResponse(
            stream,
            as_attachment=True,
            filename=f"kb-archive-{stamp}.zip",
            content_type="application/zip",
        )
    response = HttpResponse(export_bookmarks(links=links), content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="kb-bookmarks-{stamp}.html"'
    return response
