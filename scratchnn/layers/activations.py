"""Activations: element-wise non-linearities, and the name table ``ACTIVATIONS``.

Element-wise, so every activation takes any shape, rows ``(N, F)``, sequences
``(N, T, F)`` or images ``(N, C, H, W)``, and returns (and backpropagates) the
same shape.

Each activation says, in its class attribute ``weight_init``, which weight
initialisation it wants in the layer that feeds it: "he" for ReLU-like
activations (half the inputs are zeroed, so the variance is doubled to make
up for it), "xavier" for sigmoid, tanh and the identity (near 0 they are
linear, and the variance is kept as it is).
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_float_in_range
from .base import Layer

__all__ = ["ACTIVATIONS", "GELU", "Identity", "LeakyReLU", "ReLU", "Sigmoid", "Tanh", "erf", "sigmoid"]


class ReLU(Layer):
    """Rectified linear unit: ``y = max(x, 0)``, element-wise.

    Backward: ``dL/dx = g * (x > 0)``; the derivative at exactly 0 is taken as
    0, as in PyTorch. Shapes: any, output like input.
    """

    weight_init = "he"

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        mask = self._mask
        if mask is None or mask.shape != x.shape or mask.dtype != x.dtype:
            mask = self._mask = np.empty_like(x)
        # mask = (x > 0) as 1.0 / 0.0 in x's dtype, written into the same buffer batch after
        # batch: multiplying by it is twice as fast as by a boolean mask, here and in backward
        np.greater(x, 0, out=mask)
        return x * mask

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        return grad_out * self._mask if input_grad else None


class LeakyReLU(Layer):
    """Leaky ReLU: ``y = x`` where ``x > 0``, else ``negative_slope * x``.

    Backward: ``dL/dx = g`` where ``x > 0``, else ``negative_slope * g``.
    Matches ``torch.nn.LeakyReLU`` (slope used at exactly 0).
    """

    weight_init = "he"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_float_in_range(negative_slope, "negative_slope", 0.0, 1.0)
        self._slope: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # local derivative dy/dx, 1 or negative_slope; y = x * dy/dx
        self._slope = np.where(x > 0, 1.0, self.negative_slope).astype(x.dtype, copy=False)
        return x * self._slope

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        return grad_out * self._slope if input_grad else None

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))`` that never overflows.

    Split on the sign: for ``x >= 0`` use ``1 / (1 + e)``, for ``x < 0`` use
    ``e / (1 + e)``, with ``e = exp(-|x|)`` always in ``(0, 1]``. So ``exp`` never
    sees a large positive argument, whatever ``x`` is.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


class Sigmoid(Layer):
    """Logistic sigmoid: ``y = 1 / (1 + exp(-x))``, element-wise, computed stably.

    Backward: ``dL/dx = g * y * (1 - y)``, from the cached output ``y`` (no
    recomputation of the forward pass).
    """

    weight_init = "xavier"

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        y = self._y
        return grad_out * y * (1.0 - y)


class Tanh(Layer):
    """Hyperbolic tangent: ``y = tanh(x)``, element-wise.

    Backward: ``dL/dx = g * (1 - y**2)``, from the cached output.
    """

    weight_init = "xavier"

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        y = self._y
        return grad_out * (1.0 - y * y)


class Identity(Layer):
    """The identity: ``y = x``, and backward ``dL/dx = g``.

    A "linear activation", as scikit-learn's ``activation="identity"``: a
    network of Dense layers with it computes an affine function of its input.
    """

    weight_init = "xavier"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        return grad_out if input_grad else None


# W. J. Cody's rational approximations of erf and erfc (Math. Comp. 23, 1969; his CALERF routine
# in netlib's specfun, which SciPy's erf descends from), each accurate to float64 rounding.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
          1.85777706184603153e-1)  # fmt: skip
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERFC_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
           8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
           2.15311535474403846e-8)  # fmt: skip
_ERFC_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
           3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03,
           1.23033935480374942e03)  # fmt: skip
_ERFC_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
           6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_ERFC_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
           2.33520497626869185e-3)  # fmt: skip


# For float32, the odd/even rational approximation on [-4, 4] that Eigen uses for float (and so
# TensorFlow and JAX on the CPU): erf(x) = x P(x**2) / Q(x**2), within 4.2e-7 of erf; past 4, erf is 1
# in float32. Highest power first.
_ERF32_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
            -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)  # fmt: skip
_ERF32_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
            -1.42647390514189e-02)  # fmt: skip


def _ratio(z: np.ndarray, num: tuple, den: tuple) -> np.ndarray:
    """A ratio of polynomials in ``z``, evaluated by Horner's rule:
    ``(num[-1] z^k + num[0] z^(k-1) + ... + num[k-1]) / (z^k + den[0] z^(k-1) + ... + den[k-1])``.

    Cody's layout: ``num`` has one more coefficient than ``den``; its last one
    leads the numerator.
    """
    xnum, xden = num[-1] * z, z.copy()
    for a, b in zip(num[:-2], den[:-1]):
        xnum += a
        xnum *= z
        xden += b
        xden *= z
    return (xnum + num[-2]) / (xden + den[-1])


def erf(x) -> np.ndarray:
    """The error function ``erf(x) = 2 / sqrt(pi) * integral_0^x exp(-t**2) dt``, element-wise.

    NumPy has none, so this is W. J. Cody's rational approximation (as in
    SciPy), within a unit or two in the last place of float64 everywhere
    (float32 input takes Eigen's shorter approximation, within 4.2e-7: see
    ``_erf_float32``; twelve passes over the array instead of Cody's masks). On
    ``y = |x|``, in three ranges:

    * ``y <= 0.46875``: ``erf(x) = x * R1(y**2)``;
    * ``0.46875 < y <= 4``: ``erfc(y) = exp(-y**2) * R2(y)``;
    * ``y > 4``: ``erfc(y) = exp(-y**2) / y * (1 / sqrt(pi) + R3(1 / y**2) / y**2)``;

    with ``R1, R2, R3`` ratios of polynomials, and ``erf(x) = sign(x) * (1 - erfc(y))``.
    ``exp(-y**2)`` is computed as ``exp(-s**2) * exp(-(y - s) * (y + s))`` with
    ``s`` = ``y`` rounded down to a multiple of 1/16, so ``s**2`` is exact and no
    accuracy is lost to the rounding of ``y**2``. From ``y = 6`` on, ``erf`` is 1
    to float64 precision (``erfc(6) ~ 2e-17``); ``y`` is capped there so nothing overflows.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if x.dtype == np.float32:
        return _erf_float32(x)
    y = np.abs(x)
    out = np.empty_like(y)
    small = y <= 0.46875
    middle = (y > 0.46875) & (y <= 4.0)
    large = ~(small | middle)  # and NaN, which stays NaN
    ys = y[small]
    out[small] = ys * _ratio(ys * ys, _ERF_A, _ERF_B)
    ym = y[middle]
    erfc_m = _ratio(ym, _ERFC_C, _ERFC_D)
    yl = np.minimum(y[large], 6.0)
    z = 1.0 / (yl * yl)
    erfc_l = (1.0 / math.sqrt(math.pi) - z * _ratio(z, _ERFC_P, _ERFC_Q)) / yl
    for mask, yy, erfc in ((middle, ym, erfc_m), (large, yl, erfc_l)):
        s = np.trunc(yy * 16.0) / 16.0
        erfc *= np.exp(-s * s) * np.exp(-(yy - s) * (yy + s))
        out[mask] = (0.5 - erfc) + 0.5  # 1 - erfc, rounded as Cody does
    return np.copysign(out, x)


def _horner(z: np.ndarray, coefficients: tuple) -> np.ndarray:
    """``c[0] z^k + c[1] z^(k-1) + ... + c[k]``, in place on one new array."""
    out = z * coefficients[0]
    out += coefficients[1]
    for c in coefficients[2:]:
        out *= z
        out += c
    return out


def _erf_float32(x: np.ndarray) -> np.ndarray:
    """``erf`` of a float32 array: ``x P(x**2) / Q(x**2)`` on ``x`` clipped to [-4, 4] (Eigen's)."""
    x = np.clip(x, -4.0, 4.0)
    x2 = x * x
    out = _horner(x2, _ERF32_P)
    out *= x
    out /= _horner(x2, _ERF32_Q)
    return out


class GELU(Layer):
    """Gaussian error linear unit, ``y = x * Phi(x)``, as ``torch.nn.GELU(approximate=...)``.

    ``Phi`` is the standard normal CDF, so the unit passes ``x`` through in
    proportion to how likely a standard normal is to fall below it.

    ``approximate="none"`` (exact)::

        Phi(x) = (1 + erf(x / sqrt(2))) / 2,    phi(x) = exp(-x**2 / 2) / sqrt(2 pi)
        y      = x * Phi(x)
        dy/dx  = Phi(x) + x * phi(x)

    ``approximate="tanh"`` (GPT-2's, from before frameworks had an ``erf``)::

        u      = sqrt(2 / pi) * (x + 0.044715 * x**3),   t = tanh(u)
        y      = x * (1 + t) / 2
        dy/dx  = (1 + t) / 2 + x * (1 - t**2) * sqrt(2 / pi) * (1 + 3 * 0.044715 * x**2) / 2

    The two differ by at most about 5e-4 in value; a model trained with one is
    evaluated with the same one. Shapes: any, output like input.
    """

    weight_init = "he"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._x: np.ndarray | None = None
        self._phi_or_t: np.ndarray | None = None  # Phi(x) (exact) or t (tanh), what backward reuses

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        if self.approximate == "none":
            cdf = erf(x * (1.0 / math.sqrt(2.0)))  # Phi(x) = (1 + erf(x / sqrt(2))) / 2
            cdf += 1.0
            cdf *= 0.5
            self._phi_or_t = cdf
            return x * cdf  # y = x * Phi(x)
        t = x * x  # u = sqrt(2 / pi) * (x + 0.044715 * x**3);  t = tanh(u)
        t *= 0.044715
        t += 1.0
        t *= x
        t *= math.sqrt(2.0 / math.pi)
        np.tanh(t, out=t)
        self._phi_or_t = t
        y = t + 1.0  # y = x * (1 + t) / 2
        y *= x
        y *= 0.5
        return y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        x = self._x
        if self.approximate == "none":
            # y = x * Phi(x):  dy/dx = Phi(x) + x * phi(x)
            slope = np.exp(-0.5 * x * x)
            slope *= x * (1.0 / math.sqrt(2.0 * math.pi))
            slope += self._phi_or_t
        else:
            # y = x * (1 + t) / 2:  dy/dx = (1 + t) / 2 + x / 2 * (1 - t**2) * du/dx
            t = self._phi_or_t
            slope = x * x  # du/dx = sqrt(2 / pi) * (1 + 3 * 0.044715 * x**2)
            slope *= 3.0 * 0.044715
            slope += 1.0
            slope *= math.sqrt(2.0 / math.pi)
            slope *= 1.0 - t * t
            slope *= x
            slope += 1.0 + t
            slope *= 0.5
        slope *= grad_out
        return slope

    def get_config(self) -> dict:
        return {"approximate": self.approximate}


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU, "identity": Identity}
