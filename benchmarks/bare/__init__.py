"""Bare Django: the floor every ratio of the bench is measured against (benchmarks/README.md).

A project with no installed apps, no middleware and no database, whose one view returns a short string. It
runs under the same ``gunicorn -c gunicorn.conf.py`` as the app (workers, worker class, bind, access log), so
what separates the two is the app's own work, not the server's.
"""
