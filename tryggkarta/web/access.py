"""The policy at the web seam: every request is checked against :data:`tryggkarta.policy.ROUTES`
before its view runs (and before its body is read), and templates ask :func:`policy.can`.

A route the policy does not name is refused, so a new page cannot go out unguarded.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request
from flask_login import current_user

from tryggkarta import policy


def init_app(app: Flask) -> None:
    @app.before_request
    def check_route() -> Any:
        endpoint = request.endpoint
        if endpoint is None:  # 404/405: nothing to guard
            return None
        if policy.route_action(endpoint) is None:
            app.logger.error("route %s has no policy entry: refused", endpoint)
            abort(403)
        if policy.route_allowed(current_user, endpoint):
            return None
        if not current_user.is_authenticated:
            from tryggkarta.web.auth import login_manager

            return login_manager.unauthorized()
        abort(403)

    @app.context_processor
    def policy_helpers() -> dict[str, Any]:
        return {
            "can": lambda action: policy.can(current_user, action),
            "may_see": lambda layer, level="aggregated": policy.allowed(current_user, layer, level),
        }
