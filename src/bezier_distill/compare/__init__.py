"""``bezier-distill compare``: every method on the same data, budgets and seeds.

Three parts, one module each:

* :mod:`.chains` trains every method of one (dataset, seed) chain with the ordinary recipes
  and scores it on held-out source draws against a held-out reference;
* :mod:`.stats` decides claims from paired differences over seeds (t intervals, Holm's
  correction, four verdicts), tested on numbers alone;
* :mod:`.report` writes the tables, the claims and the plots.

:func:`.run.run_compare` ties them together into ``results.csv``, ``report.md``, ``claims.json``
and PNG figures under ``--out``; every chain's runs live under ``out/runs/<dataset>/seed<k>``
and are reused by ``--resume`` (which may add seeds or datasets).
"""
