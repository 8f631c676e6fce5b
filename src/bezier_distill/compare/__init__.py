"""``bezier-distill compare``: every method on the same data, budgets and seeds.

One job per module:

* :mod:`.config`: the configuration (:class:`~.config.CompareConfig`) and its checks;
* :mod:`.naming`: the methods' names (:class:`~.naming.Method`, written and parsed there only),
  the teacher sets, compare objectives and baselines they are made of;
* :mod:`.records`: what a chain is made of: samplers, models and their costs, the shared settings;
* :mod:`.chains`: trains every method of one (dataset, seed) chain with the ordinary recipes;
* :mod:`.baselines`: trains the field's few-step baselines of a chain (2-RF++, OT-CFM, CD, MeanFlow);
* :mod:`.scoring`: scores a chain's models on held-out source draws against a held-out
  reference, and keeps the scores while nothing they depend on changed;
* :mod:`.stats`: decides claims from paired differences over seeds (t intervals, Holm's
  correction, four verdicts), tested on numbers alone;
* :mod:`.claims`: the claims, their candidates and baselines, verdicts and paragraphs;
* :mod:`.tables`: the scores summarised over seeds, the rankings and the markdown tables;
* :mod:`.figures`: the PNG figures, the frontier among them;
* :mod:`.run`: :func:`~.run.run_compare` ties them together into ``results.csv``, ``report.md``,
  ``claims.json`` and the figures under ``--out``; every chain's runs live under
  ``out/runs/<dataset>/seed<k>`` and are reused by ``--resume`` (which may add seeds or datasets).
"""
