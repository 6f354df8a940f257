"""A real auth manager for the Lake view's access tests: Airflow's SimpleAuthManager, except that
the user ``alice`` may not read the DAG ``replicate_secret`` (SimpleAuthManager itself lets every
role read every DAG, so it cannot show that the view filters)."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

DENIED = ("alice", "replicate_secret")


class DenyAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if details is not None and (user.get_id(), details.id) == DENIED:
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
