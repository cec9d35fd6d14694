"""Curation: a person looks at the pictures and pins or rejects them.

- ``rules``: which pin or rejection applies to a query, and whether a picture is rejected (pure;
  the resolver uses it on every step's candidates);
- ``candidates``: every picture the sources offer for a query, numbered;
- ``thumbnails``: small previews fetched once through the guarded download and cached;
- ``service``: pin, unpin, reject, unreject (the one library under the CLI and the review page);
- ``review``: the local review web page (Starlette, imported only by `coverctl review`).

Nothing is imported here, so `import coverctl.curation.rules` stays cheap for the resolver.
"""
