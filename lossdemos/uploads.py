"""A ``multipart/form-data`` API body read in place: each part is a view of the body's own bytes.

Why not ``request.POST``: Django's multipart parser streams every upload through its handlers in
chunks, copying each byte several times (its stream's rollback buffer, the chunk slices, the handler's
file); for a (512, 32000) float32 ``.npy`` that was ~110 ms of a ~270 ms request, more than
``np.load`` and the loss together. Here the body is read once and given to python-multipart
(Starlette's parser) in a single ``write``: its callbacks report every part as offsets into that one
buffer, so a file part costs one boundary search (``bytes.find``) and no copy, and the ``.npy``
reader builds the tensor over the same memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import HttpRequest
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from kb.messages import Text, gettext_noop
from lossdemos.errors import InputError, TooMany

# A form of a few fields; anything near this is not a loss request.
MAX_PARTS = 64


@dataclass
class Form:
    """The parts of a multipart body: text fields as strings, files as views of the body."""

    values: dict[str, str] = field(default_factory=dict)
    files: dict[str, memoryview] = field(default_factory=dict)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    chunks: list[tuple[bytes, int, int]] = field(default_factory=list)


def read_multipart(request: HttpRequest, *, max_bytes: int) -> Form:
    """The request's multipart body as a :class:`Form`; raises InputError / TooMany.

    The declared length is checked before a byte is read, so an oversized upload costs nothing.
    """
    boundary = request.content_params.get("boundary", "")
    if not boundary:
        raise InputError(
            gettext_noop("the multipart body has no boundary in its Content-Type header"),
            field="body",
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes:
        raise TooMany(
            Text.of(
                gettext_noop(
                    "the upload is %(size)s bytes, more than the %(limit)s bytes the number limit "
                    "allows"
                ),
                size=f"{length:,}",
                limit=f"{max_bytes:,}",
            ),
            field="body",
        )
    # One read: on the test client and many servers this is the body object itself, not a copy.
    body = request.read()
    return parse_multipart(body, boundary.encode("latin-1"))


def parse_multipart(body: bytes, boundary: bytes) -> Form:
    """Split ``body`` at ``boundary`` (RFC 7578); file parts stay views of ``body``."""
    parts: list[_Part] = []
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}
    finished = []

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise InputError(
                Text.of(
                    gettext_noop("the multipart body has more than %(limit)s parts"),
                    limit=MAX_PARTS,
                ),
                field="body",
            )
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        parts[-1].headers[bytes(header["field"]).strip().lower()] = bytes(header["value"]).strip()
        header["field"].clear()
        header["value"].clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].chunks.append((data, start, end))

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_end": lambda: finished.append(True),
        },
    )
    try:
        parser.write(body)
    except MultipartParseError as exc:
        raise InputError(
            Text.of(
                gettext_noop("the multipart body could not be read: %(reason)s"), reason=str(exc)
            ),
            field="body",
        ) from None
    if not finished:
        raise InputError(
            gettext_noop("the multipart body ends before its closing boundary"), field="body"
        )
    form = Form()
    for part in parts:
        _, options = parse_options_header(part.headers.get(b"content-disposition"))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise InputError(
                gettext_noop("a part of the multipart body has no field name"), field="body"
            )
        content = _content(part.chunks, body)
        if b"filename" in options:
            form.files[name] = content
        else:
            try:
                form.values[name] = str(content, "utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    Text.of(
                        gettext_noop(
                            "the %(field)s field is not UTF-8 text; send numbers as text, or as "
                            "an .npy file"
                        ),
                        field=name,
                    ),
                    field=name,
                ) from None
    return form


def _content(chunks: list[tuple[bytes, int, int]], body: bytes) -> memoryview:
    """A part's bytes: a view of ``body`` when it arrived in one piece (always, for one write)."""
    if len(chunks) == 1 and chunks[0][0] is body:
        _, start, end = chunks[0]
        return memoryview(body)[start:end]
    # Pieces from the parser's own look-behind buffer (a boundary prefix inside the data).
    return memoryview(b"".join(bytes(data[start:end]) for data, start, end in chunks))
