"""`coverctl review`: a local web page to look at the chosen pictures, pin and reject them.

- ``cards``: the rows to review (a results file, recent store rows, the audit's problem rows);
- ``page``: the server-rendered HTML; ``static/``: its small script and style sheet;
- ``app``: the Starlette application and its security rules (token, same origin);
- ``server``: the socket on 127.0.0.1 and uvicorn.

Starlette and uvicorn are the optional extra ``coverctl[review]``; only ``app`` and ``server``
import them, and only `coverctl review` imports those.
"""
