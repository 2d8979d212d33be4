"""``GET /api/user/``: who the knox token belongs to."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmI(APIView):
    # Authentication (knox) and permission (IsAuthenticated) come from settings.REST_FRAMEWORK.

    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"id": user.id, "username": user.get_username(), "email": user.email})
