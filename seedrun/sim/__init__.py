"""A faithful local simulator of the Seedance video API (see docs/design.md).

    async with running_sim(SimConfig(task_seconds=(0.2, 0.4))) as sim:
        ...  # talk to sim.base_url with "Authorization: Bearer " + sim.api_key
"""

from __future__ import annotations

from seedrun.sim.config import SimConfig
from seedrun.sim.engine import SimTask
from seedrun.sim.server import SimHandle, running_sim, serve_sim
from seedrun.sim.state import SimState

__all__ = ["SimConfig", "SimHandle", "SimState", "SimTask", "running_sim", "serve_sim"]
