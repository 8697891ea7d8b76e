"""The demo (``python -m beetsplug.genrescore.demo``, :mod:`.__main__`) and the synthesizer
its tracks come from (:mod:`.synth`, which the tests and benchmarks use too): not part of the
plugin, which never imports them."""
