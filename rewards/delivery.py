"""Deprecated: outbound webhooks moved to the `webhooks` app (issue 13).

Kept only for `rewards.pipeline.release.pipeline_sweep`, which still sweeps webhook deliveries
through this path; delete the module when it no longer does (webhooks' own beat task,
`rewards.tasks_webhooks.webhook_deliveries_sweep_task`, already sweeps them). Nothing new may
import it.
"""

from __future__ import annotations

from webhooks.delivery import deliveries_sweep

__all__ = ["deliveries_sweep"]
