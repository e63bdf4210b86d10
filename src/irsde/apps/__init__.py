"""Applications over the public API: the benchmark harness (``irsde bench``), the
exact-posterior sampler benchmark (:mod:`.posterior`, ``irsde bench --posterior``) and the
demo figures (``irsde demo``). The library never imports this package."""
