from __future__ import annotations

from django.urls import path

from drf_knox.views import WhoAmI

urlpatterns = [path("api/user/", WhoAmI.as_view(), name="whoami")]
