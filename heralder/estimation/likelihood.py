"""Evaluate the per-pulse count likelihood P_i(n | S) in log space (notes §2, version 1).

The model for pulse i and registered count n is a mixture over the switching leak (k_i(S) and
k_i(S) ± 2 emitted photons), each a binomial registration at the S-dependent effective efficiency
η_i(S) convolved with Poisson dark counts. Afterpulsing is folded into the efficiency and the dark
mean while η(1 + p_ap) ≤ 0.8 and uses the exact compound law above that. Every term is a log;
``0·log 0 = 0`` keeps η = 0 and η = 1 exact, and no path can produce NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
from scipy.special import gammaln, xlog1py, xlogy

from heralder.estimation.detector import DetectorModel
from heralder.estimation.efficiency import effective_efficiency, photons_per_pulse
from heralder.estimation.logmath import log_sum_exp as logsumexp

__all__ = [
    "CountModel", "count_spread", "dark_window", "log_binomial", "log_dark_binomial",
]

# Window edges that are not hard limits must lie this far below the row's total (notes §2.2).
_EDGE_NATS = 34.0
# η(1 + p_ap) above this uses the exact afterpulse compound law instead of the folded mean.
_FOLD_LIMIT = 0.8
# A count beyond 20 d + 2 k_max + this is treated as impossible for every S: its model probability
# is a Poisson tail below e^-1e4, far under the outlier component.
_COUNT_MARGIN = 10_000


def _poisson_tail_widths(tail_nats: float = 36.0) -> tuple[np.ndarray, np.ndarray]:
    """Return a grid of Poisson means λ and, per λ, the distance W past the mode ⌊λ⌋ at which
    the pmf has fallen ``tail_nats`` below it.

    Indexed with ``np.searchsorted(lambdas, λ)`` the table rounds λ up to the next grid point (W
    grows with λ); the extra last width covers any λ beyond the grid with the whole range.
    """
    lambdas = 2.0 ** (np.arange(-160, 57) / 4.0)  # 1e-12 .. 16384, four points per octave
    widths = np.empty(lambdas.size + 1)
    for i, lam in enumerate(lambdas):
        mode = np.floor(lam)
        t = np.arange(1.0, 12.0 * np.sqrt(lam) + 40.0)
        drop = t * np.log(lam) - (gammaln(mode + t + 1.0) - gammaln(mode + 1.0))
        widths[i] = t[np.argmax(drop < -tail_nats)]
    widths[-1] = float(2**40)
    return lambdas, widths


_TAIL_LAMBDAS, _TAIL_WIDTHS = _poisson_tail_widths()


def log_binomial(x: np.ndarray, k: np.ndarray, p: np.ndarray, lnfact: np.ndarray) -> np.ndarray:
    """Return log Bin(x; k, p) elementwise (−inf outside 0 ≤ x ≤ k), exact at p = 0 and 1."""
    x = np.asarray(x, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    inside = (x >= 0) & (x <= k)
    xs = np.where(inside, x, 0)
    ks = np.where(inside, k, 0)
    with np.errstate(invalid="ignore"):
        out = (lnfact[ks] - lnfact[xs] - lnfact[ks - xs] + xlogy(xs, p) + xlog1py(ks - xs, -p))
    return np.where(inside, out, -np.inf)


def dark_window(n: np.ndarray | int, k: np.ndarray, p: np.ndarray, d: float) -> tuple[
        np.ndarray, np.ndarray]:
    """Return the mode m* of the dark share and how many terms around it to sum (notes §2.2).

    The terms Pois(m; d)·Bin(n − m; k, p) are log-concave in m; the mode solves
    (m+1)(k−n+m+1)p = d(n−m)(1−p), clipped to the hard limits [max(0, n − k), n]. Past the mode
    the terms fall at least like a Poisson law of mean λ (the ratio of neighbouring terms at the
    mode, times m* + 1); the window reaches the half-width W(λ) of :func:`_poisson_tail_widths`
    to each side, or the hard limit when that is closer. Call it under
    ``np.errstate(divide="ignore", invalid="ignore")``: p = 0 or 1 divides by zero on purpose.
    """
    dq = d * (1.0 - p)
    b = p * (k - n) + dq
    c = dq * (n + 1)
    disc = np.sqrt(b * b + 4.0 * p * c)
    # Each form of the root where it does not cancel; the form not taken may divide by zero.
    # The one taken is finite: b ≤ 0 needs p > 0 (p = 0 gives b = d > 0).
    x = np.where(b > 0, 2.0 * c / (b + disc), (disc - b) / (2.0 * p))
    lo = np.maximum(n - k, 0)
    mode = np.minimum(np.maximum(np.rint(x - 1.0), lo), n)  # a clip without np.clip's overhead
    j = n - mode
    # p = 0 puts the mode at m = n (j = 0, one admissible term): 0/0, which fmax maps to λ = 0.
    lam = np.fmax(dq * j / ((k - j + 1.0) * p), 0.0)
    width = _TAIL_WIDTHS[np.searchsorted(_TAIL_LAMBDAS, lam)]
    size = np.minimum(width, mode - lo) + np.minimum(width, j) + 1.0
    return mode.astype(np.int64), size  # integral values; the size only picks a bucket


def _window_rows(n: np.ndarray, k: np.ndarray, p: np.ndarray, d: float, mode: np.ndarray,
                 size: int, lnfact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's log-sum over ``size`` terms around its mode, and whether its soft edges
    pass the 34-nat test.

    The window is centred on the mode and shifted to lie inside the hard limits
    max(0, n − k) ≤ m ≤ n where they allow; a row whose limits are closer than ``size`` sums
    every admissible term.
    """
    lo = np.maximum(n - k, 0)
    start = np.maximum(np.minimum(mode - size // 2, n - (size - 1)), lo)
    end = start + (size - 1)
    m = start[:, None] + np.arange(size)
    nn = n[:, None]
    kk = k[:, None]
    past_n = bool((end > n).any())  # rows whose limits are closer than the window
    if past_n:  # clip m for the table lookups and mask the terms past n
        beyond = m > nn
        m = np.minimum(m, nn)
    xs = nn - m
    if p.min() > 0.0 and p.max() < 1.0:  # the common case: plain products, no 0·log 0 guards
        fails = kk - xs
        binom = (lnfact[kk] - lnfact[xs] - lnfact[fails] + xs * np.log(p)[:, None]
                 + fails * np.log1p(-p)[:, None])
    else:
        binom = log_binomial(xs, kk, p[:, None], lnfact)
    terms = (m * math.log(d) - d - lnfact[m]) + binom
    if past_n:
        np.copyto(terms, -np.inf, where=beyond)
    total = logsumexp(terms, axis=1)
    # A soft edge must lie 34 nats below the total; an edge at a hard limit passes as −inf
    # (so does a row whose terms are all −inf).
    edges = np.maximum(np.where(start > lo, terms[:, 0], -np.inf),
                       np.where(end < n, terms[:, -1], -np.inf))
    return total, edges <= total - _EDGE_NATS


def _bucket(size: int) -> int:
    """Return the power of two at or above ``max(size, 8)``."""
    return 1 << max(3, (size - 1).bit_length())


def log_dark_binomial(n: int | np.ndarray, k: np.ndarray, p: np.ndarray, d: float,
                      lnfact: np.ndarray) -> np.ndarray:
    """Return log Σ_m Pois(m; d)·Bin(n − m; k, p) for each row (n, k, p), summed over a window.

    Rows are bucketed by the power of two above their window size; a bucket's size doubles until
    every soft window edge lies 34 nats below the row's total. ``n`` is one count or one per row;
    ``k ≥ 0``; ``lnfact`` must cover ``max(n, max(k))``.
    """
    k = np.asarray(k, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    if p.shape != k.shape:
        p = np.broadcast_to(p, k.shape)
    if isinstance(n, int):  # one count (an update): np.full is cheaper than broadcast_to
        n = np.full(k.shape, n, dtype=np.int64)
    else:
        n = np.asarray(n, dtype=np.int64)
        if n.shape != k.shape:
            n = np.broadcast_to(n, k.shape)
    if d == 0.0:
        return log_binomial(n, k, p, lnfact)
    with np.errstate(divide="ignore", invalid="ignore"):
        mode, size = dark_window(n, k, p, d)
    out = np.empty(k.shape)
    w = _bucket(int(size.max())) if k.size else 0
    if k.size and w <= 2 * _bucket(int(size.min())):
        # The usual case once the support is pruned: one window size for every row (at most
        # twice what a row needs, cheaper than splitting the rows), and usually one pass.
        total, ok = _window_rows(n, k, p, d, mode, w, lnfact)
        if ok.all():
            return total
        out[ok] = total[ok]
        groups = [(np.flatnonzero(~ok), 2 * w)]
    else:
        bucket = np.left_shift(1, np.ceil(np.log2(np.maximum(size, 8))).astype(np.int64))
        groups = [(np.flatnonzero(bucket == w), int(w)) for w in np.unique(bucket)]
    for rows, w in groups:
        while rows.size:
            total, ok = _window_rows(n[rows], k[rows], p[rows], d, mode[rows], w, lnfact)
            out[rows[ok]] = total[ok]
            rows = rows[~ok]
            w *= 2
    return out


def count_spread(mass_tol: float) -> float:
    """Return how many standard deviations around the mean hold all but ``mass_tol``."""
    return float(np.sqrt(2.0 * np.log(1.0 / mass_tol)) + 3.0)


class CountModel:
    """Hold the tables of one detector model and evaluate log P_i(n | S) over a support.

    Parameters
    ----------
    detector
        The detector model (efficiency, dark counts, dead time, afterpulsing, ε, leak r²).
    efficiency
        η_i(S) as a function of (S, pulse); default: the bad-cavity cascade's closed form
        (:func:`~heralder.estimation.efficiency.effective_efficiency`). Where the cascade does
        not hold, the exact dynamics' :class:`~heralder.estimation.exact_efficiency.
        ExactEfficiency`.

    Attributes
    ----------
    dark_mean
        The Poisson mean of dark counts per gate after afterpulsing, d(1 + p_ap).
    compound
        Whether the exact afterpulse compound law is used (η(1 + p_ap) > 0.8).
    """

    def __init__(self, detector: DetectorModel,
                 efficiency: Callable[[np.ndarray, int], np.ndarray] | None = None) -> None:
        self.detector = detector
        self.efficiency = efficiency or partial(effective_efficiency, detector)
        p_ap = detector.afterpulse_prob
        self.dark_mean = detector.dark_counts_per_gate * (1.0 + p_ap)
        eta_prime = detector.eta * (1.0 - detector.scatter_eps)
        self.compound = p_ap > 0.0 and eta_prime * (1.0 + p_ap) > _FOLD_LIMIT
        self._fold = 1.0 if self.compound else 1.0 + p_ap
        self._eta_tables: dict[int, np.ndarray] = {}
        self.lnfact = gammaln(np.arange(1025, dtype=np.float64) + 1.0)

    # --- tables ---------------------------------------------------------------------------
    @staticmethod
    def kind(pulse: int) -> int:
        """Return the table kind of a pulse: 0 first (TC), 1 later anti-TC, 2 later TC."""
        return 0 if pulse == 0 else (1 if pulse % 2 == 1 else 2)

    def ensure_lnfact(self, size: int) -> np.ndarray:
        """Return the ln n! table, grown to cover ``0..size``."""
        if size >= self.lnfact.size:
            new = max(size + 1, 2 * self.lnfact.size)
            self.lnfact = gammaln(np.arange(new, dtype=np.float64) + 1.0)
        return self.lnfact

    def eta_table(self, pulse: int, s_max: int) -> np.ndarray:
        """Return the registration probability per photon for S = 0..≥s_max on this pulse kind.

        With the folded afterpulse shortcut the table holds η_i(S)(1 + p_ap).
        """
        kind = self.kind(pulse)
        table = self._eta_tables.get(kind)
        if table is None or table.size <= s_max:
            size = max(s_max + 1, 2 * (0 if table is None else table.size), 64)
            S = np.arange(size)
            table = self.efficiency(S, pulse) * self._fold
            self._eta_tables[kind] = table
        return table

    def count_limit(self, s_max: int) -> int:
        """Return the largest count evaluated; above it every S is impossible (flagged)."""
        return int(4 * s_max + 4 + 20 * self.dark_mean + _COUNT_MARGIN)

    def leak_weights(self, S: np.ndarray, pulse: int) -> np.ndarray:
        """Return the weight w of each of k ± 2 (notes §2.5): c r² S², c = ¼ on pulse 0, ≤ 0.25."""
        c = 0.25 if pulse == 0 else 1.0
        return np.minimum(c * self.detector.leak_r2 * np.asarray(S, dtype=np.float64) ** 2, 0.25)

    # --- likelihood -----------------------------------------------------------------------
    def _log_components(self, n: int | np.ndarray, k: np.ndarray, p: np.ndarray,
                        lnfact: np.ndarray) -> np.ndarray:
        if not self.compound:
            return log_dark_binomial(n, k, p, self.dark_mean, lnfact)
        n = np.broadcast_to(n, k.shape)
        # Exact compound law: x of the k photons registered, each followed by an afterpulse with
        # probability p_ap, plus Poisson(d(1 + p_ap)): sum over every x ≤ min(k, n).
        p_ap = self.detector.afterpulse_prob
        out = np.empty(k.shape)
        for count in np.unique(n):
            rows = np.flatnonzero(n == count)
            x = np.arange(min(int(k[rows].max(initial=0)), int(count)) + 1)
            inner = log_dark_binomial(count - x, x, p_ap, self.dark_mean, lnfact)
            outer = log_binomial(x[None, :], k[rows, None], p[rows, None], lnfact)
            out[rows] = logsumexp(outer + inner[None, :], axis=1)
        return out

    def log_likelihood(self, n: int | np.ndarray, S: np.ndarray, pulse: int) -> np.ndarray:
        """Return log P_i(n | S) of the model (without the outlier component).

        Parameters
        ----------
        n
            Registered count(s), integers ≥ 0 (validated by the caller), broadcast against S.
        S
            Spin lengths.
        pulse
            Pulse index (0: first TC pulse, k = S; later pulses k = 2S).
        """
        S = np.asarray(S, dtype=np.int64)
        if S.size == 0:
            return np.empty(0)
        s_max = int(S.max())
        limit = self.count_limit(s_max)
        too_big = None
        if isinstance(n, int | np.integer):  # one count (an update): no per-row masks needed
            n = n_max = int(n)
            if n > limit:
                return np.full(S.shape, -np.inf)
        else:
            n = np.broadcast_to(np.asarray(n, dtype=np.int64), S.shape)
            too_big = n > limit
            n = np.where(too_big, 0, n)
            n_max = int(n.max())
        k = photons_per_pulse(S, pulse)
        p = self.eta_table(pulse, s_max)[S]
        # One ln n! table for every component: it covers n and k + 2 (the leak's k ± 2).
        k_top = int(photons_per_pulse(s_max, pulse))
        lnfact = self.ensure_lnfact(max(n_max, k_top + 2) + 2)
        ll = self._log_components(n, k, p, lnfact)
        if self.detector.leak_r2 > 0.0:
            w = self.leak_weights(S, pulse)
            # A k − 2 < 0 component cannot exist: its weight stays on k.
            w_minus = np.where(k >= 2, w, 0.0)
            with np.errstate(divide="ignore"):
                ll = np.logaddexp.reduce([
                    np.log1p(-w - w_minus) + ll,
                    np.log(w_minus) + self._log_components(n, np.maximum(k - 2, 0), p, lnfact),
                    np.log(w) + self._log_components(n, k + 2, p, lnfact),
                ], axis=0)
        if too_big is not None:
            ll = np.where(too_big, -np.inf, ll)
        return np.fmax(ll, -np.inf)  # fmax drops a NaN for the other operand, −inf

    def count_range(self, S: np.ndarray, pulse: int, mass_tol: float) -> tuple[int, int]:
        """Return (lo, hi) counts that hold all but about ``mass_tol`` of P_i(n | S) for each S."""
        S = np.asarray(S, dtype=np.int64)
        k = photons_per_pulse(S, pulse).astype(np.float64)
        p = self.eta_table(pulse, int(S.max()))[S]
        p_ap = self.detector.afterpulse_prob if self.compound else 0.0
        mean = k * p * (1.0 + p_ap) + self.dark_mean
        var = k * p * (1.0 - p) + k * p * p_ap * (3.0 + p_ap) + self.dark_mean + 1.0
        if self.detector.leak_r2 > 0.0:
            var += 8.0 * p * p * self.leak_weights(S, pulse)
        spread = count_spread(mass_tol)
        lo = max(0, int(np.floor(np.min(mean - spread * np.sqrt(var)))) - 2)
        hi = int(np.ceil(np.max(mean + spread * np.sqrt(var)))) + 2
        return lo, hi

    def predictive_matrix(self, S: np.ndarray, logp: np.ndarray, pulse: int,
                          mass_tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
        """Return (counts, log L) with log L[j, s] = log P_i(counts[j] | S[s]).

        The counts cover the predictive mass of the S whose log-posterior is finite.
        """
        S = np.asarray(S, dtype=np.int64)
        live = S[np.isfinite(logp)]
        lo, hi = self.count_range(live, pulse, mass_tol)
        counts = np.arange(lo, hi + 1, dtype=np.int64)
        n_grid, s_grid = np.meshgrid(counts, S, indexing="ij")
        ll = self.log_likelihood(n_grid.ravel(), s_grid.ravel(), pulse)
        return counts, ll.reshape(n_grid.shape)

    def kernel_args(self, pulse: int, s_max: int, log1m_rho: float = 0.0,
                    log_rho_u: float = -np.inf, prune_nats: float = 50.0,
                    contiguous: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
        """Return the compiled kernels' model arguments for a pulse and spins up to ``s_max``.

        Returns
        -------
        (iparams, fparams, eta_table, lnfact)
            iparams = (k_mult, count_limit, contiguous); fparams = (leak_c, leak_r2, dark_mean,
            log(1−ρ), log ρU, prune_nats); ``lnfact`` covers every count up to the limit.
        """
        n_limit = self.count_limit(s_max)
        iparams = np.array([1 if pulse == 0 else 2, n_limit, int(contiguous)], dtype=np.int64)
        fparams = np.array([0.25 if pulse == 0 else 1.0, self.detector.leak_r2, self.dark_mean,
                            log1m_rho, log_rho_u, prune_nats])
        return iparams, fparams, self.eta_table(pulse, s_max), self.ensure_lnfact(n_limit + 2)
