"""The field's few-step baselines of a chain (``--baselines``), each spending the training samples of
a 1-RF + distill chain (two runs of ``steps x batch_size``): 2-RF++ (the 1-RF reflowed once with
the 2-rf++ recipe), OT-CFM (a 1-RF on minibatch-OT pairs) and its one- and two-step distillation,
consistency distillation (CD) of the 1-RF, and MeanFlow from scratch (one run of twice the steps).
"""

from __future__ import annotations

from ..config import DistillConfig, ReflowConfig, TrainConfig
from ..recipes import run_distill, run_reflow, run_train
from ..training import run_seconds
from .naming import BASELINES, Method
from .records import CONSISTENCY_TWO, FLOW_SAMPLERS, GRIDS, ONE_STEP, Chain, Costs, Model


def train_baselines(chain: Chain, costs: Costs) -> list[Model]:
    """Train the baselines of ``--baselines`` in a chain whose 1-RF (``rf1``) and its pairs
    (``pairs1``) exist, in the order of :data:`BASELINES`; ``costs``: what they cost."""
    chosen = chain.cfg.baseline_list()
    return [m for name in BASELINES if name in chosen for m in _TRAIN[name](chain, costs)]


def _rf2pp(chain: Chain, costs: Costs) -> list[Model]:
    """2-RF++: the 1-RF reflowed once on its pairs with the 2-rf++ recipe."""
    run_train(
        TrainConfig(out=chain.folder("rf2pp"), pairs=chain.folder("pairs1"), recipe="2-rf++", **chain.train),
        progress=False,
    )
    up, up_nfe = costs.pairs[1]
    return [
        chain.model(
            Method.of_baseline("2-RF++"),
            "rf2pp",
            rectifications=2,
            teacher=None,
            seconds=up + run_seconds(chain.folder("rf2pp")),
            teacher_nfe=up_nfe,
            stages=2,
            samplers=FLOW_SAMPLERS,
        )
    ]


def _ot_cfm(chain: Chain, costs: Costs) -> list[Model]:
    """OT-CFM: a 1-RF trained on minibatch-OT pairs, and its one- and two-step students."""
    out = chain.folder("rf1-ot")
    run_train(
        TrainConfig(out=out, data=chain.dataset, pairing="ot", **chain.arch, **chain.train), progress=False
    )
    ot_seconds = run_seconds(out)
    flow = Method.of_baseline("OT-CFM")
    found = [
        chain.model(
            flow,
            "rf1-ot",
            rectifications=1,
            teacher=None,
            seconds=ot_seconds,
            teacher_nfe=0.0,
            stages=1,
            samplers=FLOW_SAMPLERS,
        )
    ]
    pairs = run_reflow(
        ReflowConfig(out=chain.folder("pairs-ot"), model=out, **chain.pair_solver, **chain.coupling),
        progress=False,
    )
    for grid, sampler in GRIDS:
        name = f"d-ot-k{grid}"
        run_distill(
            DistillConfig(out=chain.folder(name), pairs=chain.folder("pairs-ot"), k=grid, **chain.student),
            progress=False,
        )
        found.append(
            chain.model(
                flow.distill(),
                name,
                learner=True,
                rectifications=1,
                teacher=flow,
                seconds=ot_seconds + pairs["seconds"] + run_seconds(chain.folder(name)),
                teacher_nfe=pairs["mean_nfe"],
                stages=2,
                samplers=(sampler,),
            )
        )
    return found


def _cd(chain: Chain, costs: Costs) -> list[Model]:
    """CD: consistency distillation of the 1-RF (two steps: the multistep consistency sampler)."""
    cd = DistillConfig(
        out=chain.folder("cd"), pairs=chain.folder("pairs1"), objective="consistency", **chain.student
    )
    run_distill(cd, progress=False)
    return [
        chain.model(
            Method.of_baseline("CD"),
            "cd",
            learner=True,
            rectifications=1,
            teacher=Method.rf(1),
            seconds=costs.seconds["rf1"] + run_seconds(chain.folder("cd")),
            teacher_nfe=0.0,
            teacher_evals=2.0 * cd.steps * cd.batch_size,  # one Heun step per training draw
            stages=2,
            samplers=(ONE_STEP,) if chain.translation else (ONE_STEP, CONSISTENCY_TWO),
        )
    ]


def _meanflow(chain: Chain, costs: Costs) -> list[Model]:
    """MeanFlow: trained from scratch for twice the steps, with its adaptive loss."""
    opts = chain.train | {"steps": 2 * chain.train["steps"]}
    out = chain.folder("meanflow")
    run_train(
        TrainConfig(out=out, data=chain.dataset, objective="meanflow", loss="adaptive", **chain.arch, **opts),
        progress=False,
    )
    return [
        chain.model(
            Method.of_baseline("MeanFlow"),
            "meanflow",
            rectifications=0,
            teacher=None,
            seconds=run_seconds(out),
            teacher_nfe=0.0,
            stages=2,
        )
    ]


_TRAIN = {"2-RF++": _rf2pp, "OT-CFM": _ot_cfm, "CD": _cd, "MeanFlow": _meanflow}
