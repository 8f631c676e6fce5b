"""bezier-distill: rectified flow, reflow, distillation and Bezier Distillation."""

__version__ = "0.1.0"
