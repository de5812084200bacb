"""Forms of the library pages: what a person may type, and the sentence they read when it is wrong."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from snapshots.choices import TAG_ACTIONS, BulkAction
from snapshots.normalize import (
    TAG_SEPARATORS,
    LinkError,
    link_tags,
    normalize_url,
)

MAX_IMPORT_BYTES = 20 * 1024 * 1024
# A kb library zip (the export page's) carries its archives, so it may be larger.
MAX_LIBRARY_ZIP_BYTES = 1024 * 1024 * 1024
LINKS_PER_PAGE = 50


class ValueListField(forms.Field):
    """A repeated GET/POST parameter (`?tag=a&tag=b`, checkboxes) as a list of distinct values."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, item_field: forms.Field | None = None, max_items: int = 1000, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.item_field = item_field or forms.CharField(max_length=200)
        self.max_items = max_items

    def to_python(self, value) -> list:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        items = []
        for raw in value:
            if isinstance(raw, str) and not raw.strip():
                continue
            item = self.item_field.clean(raw.strip() if isinstance(raw, str) else raw)
            if item not in items:
                items.append(item)
        if len(items) > self.max_items:
            raise forms.ValidationError(
                _("Choose at most %(count)d at a time."), params={"count": self.max_items}
            )
        return items


class TagsInput(forms.TextInput):
    """A comma-separated tag field whose suggestions come from a <datalist> (and tags-input.js).

    The script splits what is typed at whitespace and the `data-tag-separators`, as parse_tags does.
    """

    def __init__(self, datalist_id: str = "tag-suggestions", attrs=None):
        base = {
            "list": datalist_id,
            "autocomplete": "off",
            "autocapitalize": "none",
            "spellcheck": "false",
            "data-tags-input": "",
            "data-tag-separators": TAG_SEPARATORS,
        }
        super().__init__({**base, **(attrs or {})})


class LinkForm(forms.Form):
    """Add a link. The URL is checked by the service, so the error is the sentence it raises."""

    url = forms.CharField(
        label=_("URL"),
        max_length=2048,
        widget=forms.URLInput(
            attrs={"autofocus": True, "inputmode": "url", "placeholder": "https://"}
        ),
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=1000,
        widget=TagsInput(),
        help_text=_("Separate tags with spaces or commas, e.g. “python machine-learning”."),
    )
    title = forms.CharField(
        label=_("Title"),
        required=False,
        max_length=500,
        help_text=_("Leave empty to use the page's own title once it is captured."),
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Markdown: **bold**, _italic_, [links](https://example.org), lists."),
    )
    private = forms.BooleanField(
        label=_("Private (only you can see it)"),
        required=False,
        initial=True,
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            normalize_url(url)
        except LinkError as error:
            raise forms.ValidationError(error.message) from error
        return url

    def clean_tags(self) -> list[str]:
        try:
            return link_tags(self.cleaned_data["tags"])
        except LinkError as error:
            raise forms.ValidationError(error.message) from error


class LinkEditForm(LinkForm):
    """Edit a link: everything but its URL (a different URL is a different link), plus read/unread."""

    unread = forms.BooleanField(label=_("Unread"), required=False)

    field_order = ["title", "tags", "notes", "private", "unread"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["url"]


class BulkEditForm(forms.Form):
    link = ValueListField(
        label=_("Links"), item_field=forms.IntegerField(min_value=1), max_items=1000
    )
    action = forms.ChoiceField(label=_("Action"), choices=BulkAction.choices)
    tags = forms.CharField(label=_("Tags"), required=False, max_length=1000, widget=TagsInput())
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if "link" in data and not data["link"]:
            self.add_error("link", _("Select at least one link."))
        if data.get("action") in TAG_ACTIONS:
            try:
                data["tags"] = link_tags(data.get("tags") or "")
            except LinkError as error:
                data["tags"] = []
                self.add_error("tags", error.message)
                return data
            if not data["tags"]:
                self.add_error("tags", _("Type the tags to add or remove."))
        else:
            data["tags"] = []
        return data


class TagRenameForm(forms.Form):
    old = forms.CharField(widget=forms.HiddenInput, max_length=100)
    new = forms.CharField(label=_("New name"), max_length=100)


class TagMergeForm(forms.Form):
    sources = ValueListField(label=_("Tags to merge"), max_items=200)
    target = forms.CharField(
        label=_("Into the tag"),
        max_length=100,
        widget=TagsInput(attrs={"data-tags-input": "single"}),
        help_text=_("An existing tag or a new name."),
    )

    def clean_sources(self) -> list[str]:
        sources = self.cleaned_data["sources"]
        if not sources:
            raise forms.ValidationError(_("Choose the tags to merge."))
        return sources


class TagDeleteForm(forms.Form):
    name = forms.CharField(widget=forms.HiddenInput, max_length=100)


class CompareForm(forms.Form):
    a = forms.IntegerField(label=_("Before"), min_value=1)
    b = forms.IntegerField(label=_("After"), min_value=1)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Bookmarks file or kb library zip"),
        help_text=_(
            "A Netscape bookmarks HTML file, as exported by every browser, linkding, Pocket and "
            "Karakeep (at most 20 MB), or the zip kb's export page makes, which brings back the "
            "archives and capture history too (at most 1 GB)."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": ".html,.htm,text/html,.zip,application/zip"}
        ),
    )
    private = forms.BooleanField(
        label=_("Make imported links private unless the file says otherwise"),
        required=False,
        initial=True,
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        head = upload.read(4)
        upload.seek(0)
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            if upload.size > MAX_LIBRARY_ZIP_BYTES:
                raise forms.ValidationError(
                    _(
                        "This zip is %(size)s; the limit here is 1 GB. Use manage.py restore "
                        "FILE --merge on the server."
                    ),
                    params={"size": f"{upload.size / 1024 / 1024:.1f} MB"},
                )
            return upload
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                _(
                    "This file is %(size)s; the limit is 20 MB. Split it, or use manage.py import_bookmarks."
                ),
                params={"size": f"{upload.size / 1024 / 1024:.1f} MB"},
            )
        return upload


class ExportForm(forms.Form):
    FORMATS = [
        ("html", _("Bookmarks file (HTML) — imports into any browser or bookmark manager")),
        (
            "zip",
            _(
                "Zip: your whole library with its archives and capture history (kb imports it "
                "back), the bookmarks file and the archived pages as single HTML files"
            ),
        ),
    ]
    format = forms.ChoiceField(
        label=_("Format"), choices=FORMATS, initial="html", widget=forms.RadioSelect
    )
    tag = ValueListField(label=_("Only links tagged"), max_items=20)
