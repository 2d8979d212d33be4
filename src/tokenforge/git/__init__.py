"""Git over HTTP: smart HTTP served by git's own upload-pack and receive-pack behind Tokenforge's authentication.

    http.py      the ASGI surface: routes git paths, authorizes through ``authz.decide``, does the HTTP
                 framing http-backend did (service line, content types, checks), runs git
    access.py    decide()'s answers → what git is told (status, ``remote:`` text, challenge)
    backend.py   ``git upload-pack``/``receive-pack --stateless-rpc`` as a streamed child (no whole-body
                 buffering either way; gzip request bodies inflated on the way)
    pktline.py   rewrites receive-pack's report so a hook's reason reaches ``! [remote rejected]``
    hooks.py     the server-side hooks (the workflow rule, the push log) and their installer
    messages.py  the texts git prints, GitHub's wording

Kept free of imports at package level: the hooks run ``python -m tokenforge.git.hooks`` for a
pushed ref that touches workflow files, and every import here would be paid on each of them.
"""
