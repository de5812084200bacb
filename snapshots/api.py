"""The library API (ARCHITECTURE §6): links, their snapshots, tags and search.

Routes are thin: they validate with the schemas below and call the same services and queries as
the pages. Writes need WRITE_AUTH (Bearer token, or session + CSRF); reads answer anonymous callers
with public links. Who may see or change a link is snapshots.access's answer, as for the pages: a
link the caller may not see, or may not change, is a 404 like a missing one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from kb.api_auth import WRITE_AUTH, ApiError, optional_user
from kb.models import UserSettings
from snapshots import access
from snapshots.choices import CaptureEngine, CaptureState, Sort, Visibility
from snapshots.library_pages import library_count_and_page
from snapshots.models import Link, SavedSearch, Snapshot
from snapshots.normalize import LinkError, filter_tags, normalize_url
from snapshots.queries import (
    TAG_LIST,
    LibraryFilters,
    link_excerpts,
    tag_counts,
)
from snapshots.services.links import link_create, link_delete, link_update
from snapshots.services.saved_searches import (
    MAX_NAME as MAX_SAVED_NAME,
)
from snapshots.services.saved_searches import (
    MAX_QUERY as MAX_SAVED_QUERY,
)
from snapshots.services.saved_searches import (
    SavedSearchError,
    saved_search_create,
    saved_search_delete,
    saved_search_update,
)
from snapshots.tasks import capture_chromium, snapshot_request

router = Router(tags=["library"])

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
DEFAULT_PER_PAGE = 50
MAX_NOTES = 100_000


# --- schemas -------------------------------------------------------------------------------------


class ErrorOut(Schema):
    error: str = Field(..., description="A sentence for a person.")


class FieldErrorOut(Schema):
    field: str
    message: str


class InvalidOut(ErrorOut):
    """A 422: the request's values were refused; `fields` when the schema refused them."""

    fields: list[FieldErrorOut] | None = Field(None, description="Every value refused, in order.")
    field: str | None = Field(None, description="The one field refused (a null where none may be).")


class SnapshotOut(Schema):
    id: int
    status: Literal["pending", "running", "succeeded", "failed"]
    error: str
    created: datetime
    finished: datetime | None
    http_status: int | None
    final_url: str
    content_type: str
    title: str
    text: str
    archive_url: str | None = Field(
        None, description="The self-contained page, served sandboxed; null until captured."
    )
    size: int
    engine: Literal["static", "browser"] | None = Field(
        None, description="How the page was captured; null until it is."
    )
    screenshot_url: str | None = Field(
        None,
        description="The first screen as the browser showed it (or, for a static capture, the "
        "page's og:image), served like the archive; null when there is none.",
    )

    @staticmethod
    def resolve_created(snapshot: Snapshot) -> datetime:
        return snapshot.requested

    @staticmethod
    def resolve_engine(snapshot: Snapshot) -> str | None:
        return snapshot.engine or None

    @staticmethod
    def resolve_screenshot_url(snapshot: Snapshot) -> str | None:
        if not snapshot.screenshot_sha256:
            return None
        return f"/snapshots/{snapshot.pk}/screenshot/"

    @staticmethod
    def resolve_archive_url(snapshot: Snapshot) -> str | None:
        if snapshot.archive_id is None:
            return None
        return f"/archive/{snapshot.pk}/"


class LinkOut(Schema):
    id: int
    url: str
    title: str = Field(
        ...,
        description="The title a person sees: the user's own, else the newest succeeded "
        "capture's page title.",
    )
    description: str
    notes: str
    tags: list[str]
    private: bool
    created: datetime
    snapshots: list[SnapshotOut] = Field(..., description="Newest first.")
    # Extras beyond §6:
    unread: bool
    domain: str
    updated: datetime
    owner: str
    display_title: str
    user_title: str = Field(..., description="The title the user typed (empty: none).")
    excerpt: str | None = Field(
        None, description="With ?q=: HTML around the first match, matches in <mark>."
    )

    @staticmethod
    def resolve_title(link: Link) -> str:
        return link.resolved_title

    @staticmethod
    def resolve_user_title(link: Link) -> str:
        return link.title

    @staticmethod
    def resolve_tags(link: Link) -> list[str]:
        return link.tag_names

    @staticmethod
    def resolve_snapshots(link: Link) -> list[Snapshot]:
        return list(link.snapshots.all())

    @staticmethod
    def resolve_owner(link: Link) -> str:
        return link.owner.get_username()

    @staticmethod
    def resolve_excerpt(link: Link) -> str | None:
        return getattr(link, "excerpt", None)


class LinkList(Schema):
    count: int
    items: list[LinkOut]


TagList = list[str] | str


class LinkIn(Schema):
    url: str = Field(..., max_length=4096)
    tags: TagList = Field(default_factory=list, description='A list, or one string "a, b c".')
    title: str = Field("", max_length=500)
    notes: str = Field("", max_length=MAX_NOTES)
    private: bool | None = Field(
        None,
        description="Left out: the owner's choice for new links (settings; private unless set).",
    )


class LinkPatch(Schema):
    url: str | None = Field(None, max_length=4096)
    tags: TagList | None = None
    title: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=MAX_NOTES)
    description: str | None = Field(None, max_length=MAX_NOTES)
    private: bool | None = None
    unread: bool | None = None


class LinkQuery(Schema):
    q: str = Field(
        "",
        max_length=500,
        description='The search language: words (English whole, Chinese inside text), "phrase", '
        '-word, -"phrase", a OR b, #tag, -#tag, site:host, '
        "is:unread|read|private|public|failed, after:YYYY-MM-DD, before:YYYY-MM-DD.",
    )
    tag: list[str] = Field(default_factory=list, description="Repeat for several: all must match.")
    domain: str = Field("", max_length=255)
    # The bounds and choices are documented here and checked in list_links, which says what is wrong.
    state: str = Field(
        "",
        description="Latest capture: pending, running, succeeded, failed or none.",
        json_schema_extra={"enum": ["", *CaptureState.values]},
    )
    visibility: str = Field(
        "", description="private or public.", json_schema_extra={"enum": ["", *Visibility.values]}
    )
    unread: bool | None = None
    sort: str = Field(
        Sort.NEWEST.value,
        description=", ".join(Sort.values),
        json_schema_extra={"enum": Sort.values},
    )
    page: int = Field(1, json_schema_extra={"minimum": 1, "maximum": MAX_PAGE})
    per_page: int = Field(
        DEFAULT_PER_PAGE, json_schema_extra={"minimum": 1, "maximum": MAX_PER_PAGE}
    )


class CaptureIn(Schema):
    engine: str = Field(
        "",
        description="auto, static or browser; empty: the server's KB_CAPTURE_ENGINE.",
        json_schema_extra={"enum": ["", *CaptureEngine.values]},
    )


class TagOut(Schema):
    name: str
    slug: str
    count: int


# --- helpers -------------------------------------------------------------------------------------

# What each error status means, for the OpenAPI schema (ARCHITECTURE §6: every error is a 4xx JSON).
ERROR_DOCS = {
    400: {"description": "The request contains a NUL character, or its body is not JSON."},
    401: {
        "description": "The API token is wrong, or a write came with no credentials.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["Bearer"]}}},
    },
    403: {"description": "A signed-in session's write without a valid CSRF token."},
    404: {"description": "No such link or snapshot, or the caller may not see or change it."},
    413: {"description": "The body is larger than the site accepts."},
    422: {"description": "A value was refused; `error` says which and why."},
}
READ_ERRORS = {400: ErrorOut, 401: ErrorOut, 422: InvalidOut}
WRITE_ERRORS = {**READ_ERRORS, 403: ErrorOut, 413: ErrorOut}
ONE = {404: ErrorOut}


def answers(success: dict, errors: dict) -> dict:
    """A route's `response=` and the descriptions and headers of its error statuses."""
    statuses = dict(sorted({**success, **errors}.items()))
    documented = {status: ERROR_DOCS[status] for status in statuses if status in ERROR_DOCS}
    return {"response": statuses, "openapi_extra": {"responses": documented}}


def _with_details(links):
    """Everything a link object shows, in a fixed number of queries for any number of links."""
    # Prefetched, not joined: a join would run for every matching link before the LIMIT.
    return links.prefetch_related(
        "owner",
        TAG_LIST,
        Prefetch(
            "snapshots",
            queryset=Snapshot.objects.defer("reader_html").order_by("-requested", "-id"),
        ),
    )


def _snapshot_fields(snapshots):
    return snapshots.defer("reader_html")


def _fresh(link_id: int) -> Link:
    return _with_details(Link.objects.all()).get(pk=link_id)


def _tags(value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# --- routes --------------------------------------------------------------------------------------


@router.post(
    "/links",
    auth=WRITE_AUTH,
    url_name="links",
    **answers({200: LinkOut, 201: LinkOut}, WRITE_ERRORS),
)
def create_link(request: HttpRequest, payload: LinkIn):
    """Save a link (201), or find the one already saved under the same URL (200, capture queued)."""
    try:
        link, created = link_create(
            owner=request.auth,
            url=payload.url,
            tags=_tags(payload.tags),
            title=payload.title,
            notes=payload.notes,
            private=UserSettings.for_user(request.auth).new_links_private
            if payload.private is None
            else payload.private,
        )
    except LinkError as exc:
        raise ApiError(422, exc.message) from exc
    return Status(201 if created else 200, _fresh(link.pk))


@router.get("/links", **answers({200: LinkList}, READ_ERRORS))
def list_links(request: HttpRequest, query: Query[LinkQuery]):
    """The caller's links and others' public links, filtered, searched and paged."""
    if not 1 <= query.page <= MAX_PAGE:
        raise ApiError(422, _("page must be between 1 and %(max)d.") % {"max": MAX_PAGE})
    if not 1 <= query.per_page <= MAX_PER_PAGE:
        raise ApiError(422, _("per_page must be between 1 and %(max)d.") % {"max": MAX_PER_PAGE})
    if query.state and query.state not in CaptureState.values:
        raise ApiError(
            422,
            _("state must be one of: %(states)s.") % {"states": ", ".join(CaptureState.values)},
        )
    if query.sort not in Sort.values:
        raise ApiError(
            422, _("sort must be one of: %(sorts)s.") % {"sorts": ", ".join(Sort.values)}
        )
    if query.visibility and query.visibility not in Visibility.values:
        raise ApiError(422, _("visibility must be private or public."))
    try:
        tags = filter_tags(query.tag)
    except LinkError as exc:
        raise ApiError(422, exc.message) from exc
    filters = LibraryFilters(
        q=query.q,
        tags=tags,
        domain=query.domain,
        state=query.state,
        visibility=query.visibility,
        unread=query.unread,
        sort=query.sort,
        page=query.page,
    )
    problems = filters.search.problems
    if problems:
        raise ApiError(422, problems[0], field="q")
    user = optional_user(request)
    start = (query.page - 1) * query.per_page
    count, items = library_count_and_page(
        user, filters, start, start + query.per_page, details=_with_details
    )
    if filters.q and items:
        excerpts = link_excerpts(items, filters.q)
        for link in items:
            link.excerpt = excerpts.get(link.pk)
    return {"count": count, "items": items}


@router.get("/links/saved", auth=WRITE_AUTH, **answers({200: LinkOut}, {**WRITE_ERRORS, **ONE}))
def saved_link(request: HttpRequest, url: str = Query(..., max_length=4096)):
    """The caller's own link saved under ``url`` (as normalized when saving), or 404: whether a
    page is already in their library (the browser extension asks before saving)."""
    try:
        normalized = normalize_url(url)
    except LinkError as exc:
        raise ApiError(422, exc.message) from exc
    link = _with_details(Link.objects.filter(owner=request.auth, normalized_url=normalized)).first()
    if link is None:
        raise ApiError(404, _("This page is not in your library."))
    return link


@router.get("/links/{link_id}", **answers({200: LinkOut}, {**READ_ERRORS, **ONE}))
def get_link(request: HttpRequest, link_id: int):
    return access.link_read(request, link_id, viewer=optional_user, details=_with_details)


@router.patch(
    "/links/{link_id}", auth=WRITE_AUTH, **answers({200: LinkOut}, {**WRITE_ERRORS, **ONE})
)
def update_link(request: HttpRequest, link_id: int, payload: LinkPatch):
    """Change some fields; `tags` replaces the whole set."""
    link = access.link_write(request, link_id)
    fields = payload.dict(exclude_unset=True)
    for name in ("private", "unread", "url"):
        if name in fields and fields[name] is None:
            raise ApiError(422, _("%(field)s cannot be null.") % {"field": name}, field=name)
    if "tags" in fields:
        fields["tags"] = _tags(fields["tags"])
    for name in ("title", "notes", "description"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    with access.link_kept(link.pk):
        try:
            link_update(link=link, **fields)
        except LinkError as exc:
            raise ApiError(422, exc.message) from exc
        return _fresh(link.pk)


@router.delete("/links/{link_id}", auth=WRITE_AUTH, **answers({204: None}, {**WRITE_ERRORS, **ONE}))
def delete_link(request: HttpRequest, link_id: int):
    """Delete the link with its snapshots."""
    link_delete(link=access.link_write(request, link_id))
    return Status(204, None)


def _capture_engine(request: HttpRequest) -> str:
    """The JSON body's optional ``engine``: a capture may be asked for with no body at all."""
    if request.content_type != "application/json" or not request.body.strip():
        return ""
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, _("The body is not JSON.")) from None
    if not isinstance(data, dict):
        raise ApiError(422, _("The body must be a JSON object."))
    engine = data.get("engine") or ""
    if not isinstance(engine, str) or (engine and engine not in CaptureEngine.values):
        raise ApiError(
            422,
            _("engine must be one of: %(engines)s.") % {"engines": ", ".join(CaptureEngine.values)},
            field="engine",
        )
    return engine


_CAPTURE_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": CaptureIn.model_json_schema()}},
    }
}


@router.post(
    "/links/{link_id}/capture",
    auth=WRITE_AUTH,
    response=answers({202: SnapshotOut}, {**WRITE_ERRORS, **ONE})["response"],
    openapi_extra={
        **answers({202: SnapshotOut}, {**WRITE_ERRORS, **ONE})["openapi_extra"],
        **_CAPTURE_BODY,
    },
)
def capture_link(request: HttpRequest, link_id: int):
    """Queue a new capture; answers the pending snapshot (poll GET /api/snapshots/{id}).

    `engine` chooses how: auto, static or browser (refused when the server has no Chromium).
    """
    link = access.link_write(request, link_id)
    engine = _capture_engine(request)
    if engine == CaptureEngine.BROWSER and capture_chromium() is None:
        raise ApiError(422, _("The browser engine is off on this server: no Chromium was found."))
    with access.link_kept(link.pk):
        snapshot = snapshot_request(link=link, engine=engine, priority=Snapshot.Priority.ASKED)
        return Status(202, Snapshot.objects.get(pk=snapshot.pk))


@router.get("/snapshots/{snapshot_id}", **answers({200: SnapshotOut}, {**READ_ERRORS, **ONE}))
def get_snapshot(request: HttpRequest, snapshot_id: int):
    """A snapshot's state, metadata and main text."""
    return access.snapshot_read(
        request, snapshot_id, viewer=optional_user, details=_snapshot_fields
    )


@router.get("/tags", **answers({200: list[TagOut]}, READ_ERRORS))
def list_tags(request: HttpRequest):
    """Tags on the links the caller can see, most used first."""
    return [
        {"name": tag.name, "slug": tag.slug, "count": tag.count}
        for tag in tag_counts(access.visible_links(optional_user(request)))
    ]


# --- saved searches --------------------------------------------------------------------------------


class SavedSearchOut(Schema):
    id: int
    name: str
    q: str = Field(..., description="The search language, as in GET /api/links?q=.")
    sort: str
    created: datetime
    library_url: str
    feed_url: str = Field(
        ..., description="Atom feed; its address is secret (it lists the owner's private links)."
    )


class SavedSearchIn(Schema):
    name: str = Field(..., max_length=MAX_SAVED_NAME)
    q: str = Field(..., max_length=MAX_SAVED_QUERY)
    sort: str = Field(Sort.NEWEST.value, json_schema_extra={"enum": Sort.values})


class SavedSearchPatch(Schema):
    name: str | None = Field(None, max_length=MAX_SAVED_NAME)
    q: str | None = Field(None, max_length=MAX_SAVED_QUERY)
    sort: str | None = Field(None, json_schema_extra={"enum": Sort.values})


def _own_saved_search(request: HttpRequest, saved_id: int) -> SavedSearch:
    saved = SavedSearch.objects.filter(pk=saved_id, owner=request.auth).first()
    if saved is None:
        raise ApiError(404, _("No such saved search."))
    return saved


def _saved_search_error(error: SavedSearchError) -> ApiError:
    extra = {"field": error.field} if error.field else {}
    return ApiError(422, error.message, **extra)


@router.get(
    "/searches",
    auth=WRITE_AUTH,
    tags=["saved searches"],
    **answers({200: list[SavedSearchOut]}, READ_ERRORS),
)
def list_saved_searches(request: HttpRequest):
    """The caller's saved searches, by name."""
    return list(SavedSearch.objects.filter(owner=request.auth))


@router.post(
    "/searches",
    auth=WRITE_AUTH,
    tags=["saved searches"],
    **answers({201: SavedSearchOut}, WRITE_ERRORS),
)
def create_saved_search(request: HttpRequest, payload: SavedSearchIn):
    """Name a search; its links are GET /api/links?q=<q>, its feed `feed_url`."""
    try:
        saved = saved_search_create(
            owner=request.auth, name=payload.name, q=payload.q, sort=payload.sort
        )
    except SavedSearchError as error:
        raise _saved_search_error(error) from error
    return Status(201, saved)


@router.get(
    "/searches/{saved_id}",
    auth=WRITE_AUTH,
    tags=["saved searches"],
    **answers({200: SavedSearchOut}, {**READ_ERRORS, **ONE}),
)
def get_saved_search(request: HttpRequest, saved_id: int):
    return _own_saved_search(request, saved_id)


@router.patch(
    "/searches/{saved_id}",
    auth=WRITE_AUTH,
    tags=["saved searches"],
    **answers({200: SavedSearchOut}, {**WRITE_ERRORS, **ONE}),
)
def update_saved_search(request: HttpRequest, saved_id: int, payload: SavedSearchPatch):
    saved = _own_saved_search(request, saved_id)
    try:
        return saved_search_update(saved=saved, **payload.dict(exclude_unset=True))
    except SavedSearchError as error:
        raise _saved_search_error(error) from error


@router.delete(
    "/searches/{saved_id}",
    auth=WRITE_AUTH,
    tags=["saved searches"],
    **answers({204: None}, {**WRITE_ERRORS, **ONE}),
)
def delete_saved_search(request: HttpRequest, saved_id: int):
    saved_search_delete(saved=_own_saved_search(request, saved_id))
    return Status(204, None)
