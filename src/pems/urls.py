"""URL map: the operator console (the root), the admin (superusers), the REST API, languages."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from pems.api.api import api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:dashboard", permanent=False)),
    path("console/", include("pems.console.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
