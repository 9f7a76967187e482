"""fake_jira in a real browser: a Jira-like host page that frames the app with Atlassian's connect-js.

The host page creates the app's iframe with ``connect-host.js`` as Jira does, and defines the bridge modules
Jira implements itself (``context``, ``request``, ``navigator``, ``user``); ``flag`` and resizing come with
connect-host. The JavaScript is Atlassian's as published on npm (``npm/package-lock.json`` pins it by
sha512), installed outside the repository and served from there (``assets``).
"""
