"""genrescore: listen to each track and write its genre.

A hybrid ensemble of a genre classifier, an instrument tagger whose instruments boost genres,
and audio heuristics. The beets plugin is :class:`.plugin.GenreScorePlugin`, imported here
for beets to find, in every process but one: the fork server the workers start from
(:func:`.workers.start`) imports only the analysis modules of this package, without beets.
Importing the plugin there (beets' importer, library, UI and mediafile: 0.12 s and 10 MB) was
on the critical path of every parallel run and in the memory of every worker.
"""

from __future__ import annotations

from .forkserver import this_is_the_fork_server

if not this_is_the_fork_server():
    from .plugin import GenreScorePlugin

    __all__ = ["GenreScorePlugin"]
