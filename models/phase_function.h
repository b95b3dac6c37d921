#pragma once
// PFNN's phase function (Holden, Komura, Saito 2017): network weights that move along a cyclic
// Catmull-Rom spline through four control weight sets as the phase goes round the circle.
#include "core/tensor.h"

namespace mixgrad::models {

// control: [4, ...] control weight sets placed at phases 0, pi/2, pi, 3pi/2; phase: [B] (any
// real value, taken modulo 2pi). Returns [B, ...]: for w = 4 phase / 2pi, k = floor(w),
// mu = w - k and y0..y3 the control sets k-1, k, k+1, k+2 (mod 4),
//   W = y1 + mu (-y0/2 + y2/2) + mu^2 (y0 - 2.5 y1 + 2 y2 - y3/2) + mu^3 (-y0/2 + 1.5 y1 - 1.5 y2 +
//   y3/2).
// Differentiable in the control weights and in the phase. Throws Error unless control has 4
// sets of a floating dtype and phase is 1-D of the same dtype.
Tensor phase_function(const Tensor& control, const Tensor& phase);

}  // namespace mixgrad::models
