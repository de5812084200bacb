"""The capture pipeline: fetch → decode → inline → extract → store.

Each step is a plain function over bytes and strings with no Django import, so it is tested without a
database or a network. `snapshots.tasks.capture_snapshot` is the one place that runs them against models.

- ``pipeline``: one capture of one URL through the steps (``capture_page``).
- ``fetch``: the only way to the network (IP pinning, redirects, limits, deadline); every hop is
  checked by ``guard`` (the SSRF rules); failures are the typed ``errors``.
- ``decode``: bytes → text.
- ``inline``: the HTML walk that makes a page self-contained, with ``collector`` (each file
  fetched once, typed by ``sniff``), ``css``, ``srcset``, ``sprites``, ``references`` (URLs as a
  browser reads them) and ``tree`` (an HTML5 parse, as a browser builds the page, then lxml
  surgery); it returns an ``archive``, whose single file carries its own CSP.
- ``extract``: the article's text and metadata.
- ``store``: content-addressed blobs.
"""
