"""How a process knows it is the workers' fork server: one environment variable, read by the
package's ``__init__`` (which then leaves the beets plugin out) and by ``workers`` (which then
warms the analysis stack up). Knows nothing of beets, and imports nothing.
"""

from __future__ import annotations

import os

#: Set by :func:`.workers.start` in the environment of the fork server it starts, to the pid
#: of the process starting it.
STARTED_BY = "GENRESCORE_WARM_UP_FOR"


def this_is_the_fork_server() -> bool:
    """Whether this process is a fork server that :func:`.workers.start` started (its parent
    set :data:`STARTED_BY` to its own pid); a worker forked from it is not."""
    return os.environ.get(STARTED_BY) == str(os.getppid())
