from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from mysite import views

urlpatterns = [
    path("", views.index, name="index"),
    path("jira/", include("jira_app.urls")),
    path("admin/", admin.site.urls),
]
