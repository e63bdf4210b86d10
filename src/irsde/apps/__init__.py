"""Applications over the public API: the benchmark harness (``irsde bench``) and the
demo figures (``irsde demo``). The library never imports this package."""
