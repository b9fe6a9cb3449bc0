"""Claims in the ID token and userinfo: who the user is and their role in each course."""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator

from studio_portal.courses.selectors import course_roles, hub_groups


class StudioOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "courses": "courses",
        "groups": "courses",
        "is_staff": "courses",
    }

    def get_additional_claims(self, request):
        user = request.user
        roles = course_roles(user=user)
        return {
            "preferred_username": user.username,
            "name": user.get_full_name() or user.username,
            "email": user.email,
            "courses": roles,
            "groups": hub_groups(roles=roles, staff=user.is_staff),
            "is_staff": user.is_staff,
        }
