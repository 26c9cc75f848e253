"""``Index`` (SPOS, Once-for-All, ENAS): one candidate per decision, chosen by whoever samples the path (uniformly,
a sandwich rule, a controller, an evolution); α gets no gradient through it."""

from __future__ import annotations

from .base import MIXED_OPS, MixedOp


@MIXED_OPS.register("Index", "index")
class Index(MixedOp):
    gradient = False
    single_path = True
