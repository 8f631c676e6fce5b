"""What a velocity model declares about itself, read in one place instead of sniffed for.

The project's models (:class:`~.models.MLPVelocity`, :class:`~.models.UNetVelocity`) and the
:class:`~.adapters.Velocity` adapter subclass :class:`VelocityModel` and declare:

* ``kind``: the architecture's name in a model folder's ``config.json`` (None: not one of ours);
* ``interval``: the model takes a second time ``s``, ``model(x, t, s)`` (MeanFlow's average
  velocity over ``[t, s]``);
* ``data_shape``: the shape of one sample (None: any shape);
* ``image_shape``: ``(channels, height, width)`` of an image model (None: not an image model).

Any other module declares nothing: one time input, any shape. A DistributedDataParallel wrapper
is seen through (:func:`unwrap`), so the training loop's wrapped model answers as its module.
"""

from __future__ import annotations

from torch import nn
from torch.nn.parallel import DistributedDataParallel


class VelocityModel(nn.Module):
    """Base of the velocity models that declare their capabilities (see the module's docstring)."""

    kind: str | None = None
    interval: bool = False
    data_shape: tuple[int, ...] | None = None
    image_shape: tuple[int, int, int] | None = None


def unwrap(model: nn.Module) -> nn.Module:
    """The module a DistributedDataParallel wrapper holds; any other model itself."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def declared(model: nn.Module) -> VelocityModel | None:
    net = unwrap(model)
    return net if isinstance(net, VelocityModel) else None


def kind_of(model: nn.Module) -> str | None:
    net = declared(model)
    return net.kind if net is not None else None


def takes_interval(model: nn.Module) -> bool:
    net = declared(model)
    return net is not None and bool(net.interval)


def data_shape(model: nn.Module) -> tuple[int, ...] | None:
    net = declared(model)
    return tuple(net.data_shape) if net is not None and net.data_shape is not None else None


def image_shape(model: nn.Module) -> tuple[int, int, int] | None:
    net = declared(model)
    return net.image_shape if net is not None else None
