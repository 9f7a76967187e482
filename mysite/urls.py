from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("jira/", include("jira_app.urls")),
    path("admin/", admin.site.urls),
]
