"""Git over HTTP: smart HTTP served by ``git http-backend`` behind Tokenforge's authentication.

    http.py      the ASGI surface: routes git paths, authorizes through ``authz.decide``, runs the backend
    access.py    decide()'s answers → what git is told (status, ``remote:`` text, challenge)
    backend.py   ``git http-backend`` as a streamed CGI child (no whole-body buffering either way)
    pktline.py   rewrites receive-pack's report so a hook's reason reaches ``! [remote rejected]``
    hooks.py     the server-side hooks (the workflow rule, the push log) and their installer
    messages.py  the texts git prints, GitHub's wording

Kept free of imports at package level: the hooks run ``python -m tokenforge.git.hooks`` once per
pushed ref, and every import here would be paid on each of them.
"""
