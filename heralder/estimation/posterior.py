"""Keep the posterior over the spin length S and update it pulse by pulse (notes §3).

The state is the log-posterior on a support of spin lengths (ascending, N's parity; in jump mode
a contiguous range of both parities). Each count multiplies in the likelihood of notes §2 mixed
with an S-independent outlier component, renormalises in log space and prunes values far below
the maximum. Counts no spin length explains are flagged and never corrupt the posterior.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from heralder.estimation import arrival, qfi_tables
from heralder.estimation.arrival_select import select_and_score
from heralder.estimation.backend import compiled_kernels, resolve_backend
from heralder.estimation.detector import DetectorModel
from heralder.estimation.efficiency import photons_per_pulse
from heralder.estimation.likelihood import CountModel
from heralder.estimation.logmath import log_sum_exp as logsumexp
from heralder.estimation.voi import LIVE_NATS, SPREAD, VoiTerms, voi_terms_numpy
from heralder.physics import prior_support

__all__ = ["Flag", "Posterior", "combine_update"]

#: Pruning below this many nats loses posterior mass that later pulses can need (notes R6).
MIN_PRUNE_NATS = 30.0
#: Update status codes shared with the compiled kernels.
OK, IMPLAUSIBLE, SKIPPED = 0, 1, 2
#: Memory the compiled update's memoised likelihoods may take per pulse kind (16 bytes per spin
#: length and count seen): the model's likelihood of a count depends on (pulse kind, n, S) only,
#: so after the first shots an update mostly reads it instead of summing the dark counts again.
MEMO_BYTES_PER_KIND = 16 << 20
_NO_MEMO = np.full((2, 0), np.nan)  # past the budget: compute every time


@dataclass(frozen=True)
class Flag:
    """Record something unusual about one pulse's update.

    Attributes
    ----------
    pulse
        Index of the pulse (0 is the first, TC pulse).
    kind
        ``"implausible"`` (the outlier branch dominates; the posterior is unchanged to ~10 digits)
        or ``"skipped"`` (every hypothesis had zero likelihood; the update was not applied).
    message
        A human-readable description.
    """

    pulse: int
    kind: str
    message: str


def combine_update(logp: np.ndarray, ll_model: np.ndarray, log1m_rho: float, log_rho_u: float,
                   prune_nats: float) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Apply one likelihood to a normalised log-posterior with the outlier component, then
    prune.

    Returns
    -------
    (logp, keep, status, log_evidence)
        The normalised log-posterior (unchanged input when skipped), the boolean mask of values
        kept, the status (OK, IMPLAUSIBLE or SKIPPED) and the log-evidence of this pulse.
    """
    ll_model = np.fmax(ll_model, -np.inf)  # fmax takes the other operand for a NaN: −inf
    ll = np.logaddexp(ll_model + log1m_rho, log_rho_u)
    lp = logp + ll
    z = logsumexp(lp)
    if z == -np.inf:
        return logp, np.ones(logp.shape, dtype=bool), SKIPPED, -np.inf
    # With Σ exp(logp) = 1 the evidence is e^z = (1−ρ)·E + ρU, E the model's evidence; so
    # E < ρU (the outlier branch dominates) exactly when e^z < (2 − ρ)·ρU.
    status = IMPLAUSIBLE if z < log_rho_u + math.log1p(math.exp(log1m_rho)) else OK
    lp = lp - z
    return lp, lp >= lp.max() - prune_nats, status, float(z)


def _check_count(count: object) -> int:
    """Return ``count`` as an int >= 0 (the caller takes a plain int >= 0 as it is)."""
    if isinstance(count, bool | np.bool_):
        raise ValueError(f"count must be an integer >= 0, got {count!r}")
    integral = isinstance(count, numbers.Integral) or (
        isinstance(count, numbers.Real) and math.isfinite(count) and float(count).is_integer())
    if integral:
        value = int(count)
    else:
        raise ValueError(f"count must be an integer >= 0, got {count!r}")
    if value < 0:
        raise ValueError(f"count must be an integer >= 0, got {value}")
    return value


class Posterior:
    """Hold the posterior over S for one shot and update it with each pulse.

    Parameters
    ----------
    N
        Number of atoms (integer ≥ 1).
    detector
        The detector model; ``detector.jump_eps > 0`` turns on the jump (HMM) mode.
    backend
        ``"numpy"`` (reference), ``"numba"`` (compiled) or ``"auto"``.
    prune_nats
        Drop values of S this far below the maximum log-posterior (≥ 30).
    outlier_rho
        Weight of the S-independent outlier component, in [0, 1).
    efficiency
        η_i(S) of the count likelihood as a function of (S, pulse) (see
        :class:`~heralder.estimation.likelihood.CountModel`); ``None``: the cascade's.

    Examples
    --------
    >>> post = Posterior(100, DetectorModel(eta=0.5, dark_counts_per_gate=0.02))
    >>> post.update(5); post.update(9)
    >>> post.map_S, round(post.pmax, 3)      # doctest: +SKIP
    """

    def __init__(self, N: int, detector: DetectorModel, *, backend: str = "auto",
                 prune_nats: float = 50.0, outlier_rho: float = 1e-9,
                 efficiency: Callable[[np.ndarray, int], np.ndarray] | None = None) -> None:
        if not isinstance(detector, DetectorModel):
            raise ValueError(f"detector must be a DetectorModel, got {type(detector).__name__}")
        if not (math.isfinite(prune_nats) and prune_nats >= MIN_PRUNE_NATS):
            raise ValueError(f"prune_nats must be >= {MIN_PRUNE_NATS}, got {prune_nats!r}")
        if not (math.isfinite(outlier_rho) and 0.0 <= outlier_rho < 1.0):
            raise ValueError(f"outlier_rho must lie in [0, 1), got {outlier_rho!r}")
        S, log_prior = prior_support(N, prune_nats)
        self.N = int(N)
        self.detector = detector
        self.backend = resolve_backend(backend)
        self.prune_nats = float(prune_nats)
        self.outlier_rho = float(outlier_rho)
        self.jump_mode = detector.jump_eps > 0.0
        self.model = CountModel(detector, efficiency)
        if self.jump_mode:  # contiguous, both parities, with the ±2 margin of notes R6
            lo, hi = max(int(S[0]) - 2, 0), min(int(S[-1]) + 2, self.N)
            full = np.arange(lo, hi + 1, dtype=np.int64)
            logp = np.full(full.shape, -np.inf)
            logp[S - lo] = log_prior
            S = full
        else:
            logp = np.asarray(log_prior, dtype=np.float64)
        self._S = S
        self._logp = logp - logsumexp(logp)
        s_max = int(S[-1])
        n_max = 2 * s_max + 10 * self.model.dark_mean + 50
        self._log1m_rho = math.log1p(-outlier_rho)
        self._log_rho_u = (math.log(outlier_rho) - math.log(n_max + 1.0)
                           if outlier_rho > 0 else -math.inf)
        for pulse in (0, 1, 2):  # build the tables now: a dead time without Γ fails here
            self.model.eta_table(pulse, s_max)
        self.pulses = 0
        self.flags: list[Flag] = []
        self.log_evidence = 0.0
        self._qfi = qfi_tables.QfiTables(self.N)
        self._kernels = compiled_kernels() if self.backend == "numba" else None
        if self.model.compound:  # the exact afterpulse law runs on numpy in every backend
            self._kernels = None
        # per pulse kind: (kernel arguments, {count: memoised likelihoods}), shared by copies
        self._kernel_args: dict[int, tuple[tuple, dict[int, np.ndarray]]] = {}
        self._info = np.zeros(6)  # the compiled update's status, evidence and summary
        self._S_buf, self._logp_buf = self._S, self._logp
        self._spare_S = np.empty(self._S.size, dtype=np.int64)
        self._spare_logp = np.empty(self._S.size)
        self._qfi_cache: tuple[float, float] | None = None
        self._summary_cache: tuple[int, float, float, float] | None = None

    # --- updates --------------------------------------------------------------------------
    def update(self, count: int) -> None:
        """Update with the registered photon count of the next pulse.

        Raises
        ------
        ValueError
            If ``count`` is not an integer ≥ 0 (NaN, negative, fractional, bool).
        """
        # a plain int >= 0 (the common case) without a call: update runs once per pulse
        n = count if count.__class__ is int and count >= 0 else _check_count(count)
        if self.jump_mode:
            self._predict_jumps()
        if self._kernels is not None:
            self._update_compiled(n)
            return
        ll = self.model.log_likelihood(n, self._S, self.pulses)
        self._apply(n, ll)

    def _kernel_entry(self) -> tuple[tuple, dict[int, np.ndarray]]:
        """Return the kernels' model arguments for the next pulse, with its pulse kind's
        memoised likelihoods by count (cached per kind and shared by copies; both rebuilt when
        the support outgrows the efficiency table)."""
        kind = self.model.kind(self.pulses)
        entry = self._kernel_args.get(kind)
        # Only jumps widen the support: without them it stays within the prior's, which the
        # tables built in __init__ cover, so the size check is skipped (once per pulse).
        if entry is None or (self.jump_mode and self._S[-1] >= entry[0][2].size):
            entry = (self.model.kernel_args(self.pulses, int(self._S[-1]), self._log1m_rho,
                                            self._log_rho_u, self.prune_nats, self.jump_mode),
                     {})
            self._kernel_args[kind] = entry
        return entry

    def _compiled_args(self) -> tuple:
        return self._kernel_entry()[0]

    def _update_compiled(self, n: int) -> None:
        args, memos = self._kernel_entry()
        memo = memos.get(n)
        if memo is None:  # a count not seen before on this pulse kind: memoise it if room
            columns = args[2].size  # the efficiency table's spin lengths
            memo = _NO_MEMO
            if (len(memos) + 1) * columns * 16 <= MEMO_BYTES_PER_KIND:
                memo = memos[n] = np.full((2, columns), np.nan)
        size = self._S.size
        if self._spare_S.size < size:
            self._spare_S = np.empty(size, dtype=np.int64)
            self._spare_logp = np.empty(size)
        out_S, out_logp = self._spare_S, self._spare_logp
        m = self._kernels.count_update_summary(self._S, self._logp, n, *args, memo, out_S,
                                               out_logp, self._info)
        status, z, map_s, pmax, mean, std = self._info.tolist()
        if status == SKIPPED:
            self._finish(n, self._S, self._logp, SKIPPED, z)
            return
        # Ping-pong: the old arrays' buffers become the spare ones for the next update.
        self._spare_S, self._spare_logp = self._S_buf, self._logp_buf
        self._S_buf, self._logp_buf = out_S, out_logp
        self._finish(n, out_S[:m], out_logp[:m], int(status), z)
        self._summary_cache = (int(map_s), pmax, mean, std)  # computed by the same kernel call

    def update_times(self, times_s: object, gate_s: float) -> None:
        """Update with the arrival times of the next pulse's registered photons (notes §5).

        Parameters
        ----------
        times_s
            Registered photon times in seconds from the pulse's start, sorted, in [0, gate_s].
        gate_s
            The gate length in seconds (> 0).

        Notes
        -----
        The numpy backend scores every candidate with the exact reference. The compiled backend
        is held to the posterior instead (within 1e-9 of that): it scores only the candidates
        the posterior needs (arrival_select), with the kernel's posterior tolerances
        (_arrival_kernels), on two cores when there are (split).

        Raises
        ------
        ValueError
            If the times are not finite, not sorted or outside the gate, or the gate is not > 0,
            or the detector model has no cascade rate Γ for this pulse.
        """
        times = arrival.check_times(times_s, gate_s)
        n = times.size
        self._predict_jumps()
        # Prune the candidates with the cheap count likelihood first (notes §5).
        ll_count = self._count_likelihood(n)
        lp = self._logp + ll_count
        cand = np.isfinite(lp) & (lp >= np.max(lp) - self.prune_nats)
        ll = np.full(self._S.shape, -np.inf)
        if np.any(cand):
            S_cand = self._S[cand]

            def score(idx: np.ndarray) -> np.ndarray:
                return arrival.log_likelihood_times(
                    times, float(gate_s), S_cand[idx], self.pulses, self.detector,
                    backend=self.backend, exact=False)

            if self.backend == "numpy":  # the reference scores every candidate exactly
                ll[cand] = score(np.arange(S_cand.size))
            else:  # held to the posterior (arrival_select, _arrival_kernels)
                ll[cand] = select_and_score(score, S_cand, self._logp[cand], ll_count[cand])
        # The outlier density spreads its count probability uniformly over the gate.
        self._apply(n, ll, log_density=-n * math.log(float(gate_s)))

    def _count_likelihood(self, n: int) -> np.ndarray:
        """Return log P(n | S) on the support (the model part), compiled when available."""
        if self._kernels is None:
            return self.model.log_likelihood(n, self._S, self.pulses)
        iparams, fparams, eta_table, lnfact = self._compiled_args()
        return self._kernels.log_count_likelihood(n, self._S, iparams[0], eta_table, fparams[0],
                                                  fparams[1], fparams[2], lnfact, iparams[1])

    def _apply(self, n: int, ll: np.ndarray, log_density: float = 0.0) -> None:
        logp, keep, status, z = combine_update(
            self._logp, ll, self._log1m_rho, self._log_rho_u + log_density, self.prune_nats)
        if status != SKIPPED:
            logp, S = self._prune(logp, keep)
        else:
            S = self._S
        self._finish(n, S, logp, status, z)

    def _prune(self, logp: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.flatnonzero(keep)
        if self.jump_mode:  # contiguous range with a ±2 margin so that jumps can re-enter
            lo, hi = max(idx[0] - 2, 0), min(idx[-1] + 3, keep.size)
            return logp[lo:hi], self._S[lo:hi]
        return logp[idx], self._S[idx]

    def _finish(self, n: int, S: np.ndarray, logp: np.ndarray, status: int, z: float) -> None:
        if status == SKIPPED:
            self.flags.append(Flag(self.pulses, "skipped",
                                   f"pulse {self.pulses}: count {n} has zero likelihood for every "
                                   "S; update skipped"))
        else:
            if status == IMPLAUSIBLE:
                self.flags.append(Flag(self.pulses, "implausible",
                                       f"pulse {self.pulses}: count {n} is implausible for every "
                                       "S (outlier branch dominates)"))
            self._S, self._logp = S, logp
            self.log_evidence += z
        self.pulses += 1
        self._qfi_cache = self._summary_cache = None

    def _predict_jumps(self) -> None:
        """Apply the jump prediction S → S−1, S, S+1 (π/3 each) before pulses i ≥ 1 (§2.6)."""
        if not self.jump_mode or self.pulses == 0:
            return
        lo, hi = max(int(self._S[0]) - 1, 0), min(int(self._S[-1]) + 1, self.N)
        S = np.arange(lo, hi + 1, dtype=np.int64)
        logp = np.full(S.shape, -np.inf)
        logp[self._S - lo] = self._logp
        k_prev = photons_per_pulse(S, self.pulses - 1)
        with np.errstate(divide="ignore"):  # S = 0 emits nothing and cannot jump: log 0
            log_pi = np.log(-np.expm1(k_prev * math.log1p(-self.detector.jump_eps)))
        log_move = log_pi - math.log(3.0)
        stay = np.logaddexp(logp + np.log1p(-np.exp(log_pi)), logp + log_move)
        down = np.full(S.shape, -np.inf)  # mass arriving from S+1
        up = np.full(S.shape, -np.inf)  # mass arriving from S−1
        down[:-1] = logp[1:] + log_move[1:]
        up[1:] = logp[:-1] + log_move[:-1]
        # At the edges of [0, N] a jump out of range keeps its mass in place.
        if lo == 0:
            stay[0] = np.logaddexp(stay[0], logp[0] + log_move[0])
        if hi == self.N:
            stay[-1] = np.logaddexp(stay[-1], logp[-1] + log_move[-1])
        new = np.logaddexp(np.logaddexp(stay, down), up)
        self._S, self._logp = S, new - logsumexp(new)
        self._qfi_cache = self._summary_cache = None

    # --- summaries ------------------------------------------------------------------------
    @property
    def S(self) -> np.ndarray:  # noqa: N802
        """Return the spin lengths of the support (ascending; a copy)."""
        return self._S.copy()

    @property
    def support_size(self) -> int:
        """Return the number of spin lengths on the support (no copy, unlike ``len(S)``)."""
        return self._S.size

    @property
    def log_p(self) -> np.ndarray:
        """Return the normalised log-posterior on the support (a copy)."""
        return self._logp.copy()

    @property
    def p(self) -> np.ndarray:
        """Return the posterior probabilities on the support."""
        return np.exp(self._logp)

    @property
    def map_S(self) -> int:  # noqa: N802
        """Return the most probable spin length."""
        cache = self._summary_cache
        return cache[0] if cache is not None else int(self._S[self._logp.argmax()])

    @property
    def pmax(self) -> float:
        """Return the largest posterior probability."""
        cache = self._summary_cache  # read directly: the policy asks after every pulse
        return (cache if cache is not None else self.summary())[1]

    @property
    def mean_S(self) -> float:  # noqa: N802
        """Return the posterior mean of S."""
        return float(np.dot(self.p, self._S))

    @property
    def std_S(self) -> float:  # noqa: N802
        """Return the posterior standard deviation of S."""
        return self.summary()[3]

    def summary(self) -> tuple[int, float, float, float]:
        """Return (map_S, pmax, mean_S, std_S) at once (cheaper than the four properties).

        The compiled backend sums in its own order: mean and std may differ from the properties
        in the last digits. Computed once per posterior state (the compiled update computes it
        with the update).
        """
        if self._summary_cache is None:
            self._summary_cache = self._compute_summary()
        return self._summary_cache

    def _compute_summary(self) -> tuple[int, float, float, float]:
        S, logp = self._S, self._logp
        if self._kernels is not None:
            map_s, pmax, mean, std = self._kernels.summary(S, logp)
            return int(map_s), pmax, mean, std
        i = int(logp.argmax())
        p = np.exp(logp)
        mean = float(np.dot(p, S))
        std = math.sqrt(max(float(np.dot(p, (S - mean) ** 2)), 0.0))
        return int(S[i]), float(np.exp(logp[i])), mean, std

    def credible_interval(self, level: float = 0.95) -> tuple[int, int]:
        """Return (S_lo, S_hi) spanning the highest-posterior set of mass ≥ ``level``."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {level!r}")
        p = self.p
        order = np.argsort(-p, kind="stable")
        n_in = int(np.searchsorted(np.cumsum(p[order]), level * p.sum())) + 1
        chosen = self._S[order[:n_in]]
        return int(chosen.min()), int(chosen.max())

    def qfi(self) -> float:
        """Return F(ρ) of the heralded mixed state Σ p_S |S,∓S⟩⟨S,∓S| (closed form, notes §6)."""
        return self._qfi_pair()[0]

    def qfi_ideal(self) -> float:
        """Return Σ p_S F_S, the QFI expected if S were revealed."""
        return self._qfi_pair()[1]

    def _qfi_pair(self) -> tuple[float, float]:
        """Return (F(ρ), Σ p_S F_S), computed once per posterior state."""
        if self._qfi_cache is None:
            if self._kernels is not None:
                F, g2 = self._qfi.tables(int(self._S[-1]))
                self._qfi_cache = self._kernels.qfi_terms(self._S, self._logp, F, g2, self.N % 2)
            else:
                p = self.p
                self._qfi_cache = (self._qfi.mixed(self._S, p), self._qfi.ideal(self._S, p))
        return self._qfi_cache

    def voi_terms(self) -> VoiTerms:
        """Return F(ρ), Σ p_S F_S and the expected F(ρ) after the next count (rule (d)).

        In jump mode the expectation ignores the jumps before the next pulse.
        """
        if self._kernels is None:
            return voi_terms_numpy(self._S, self._logp, self.model, self._qfi, self.pulses)
        F, g2 = self._qfi.tables(int(self._S[-1]) + 2)
        f_now, f_ideal, f_next = self._kernels.voi_terms(
            self._S, self._logp, *self._compiled_args(), F, g2, self.N % 2, LIVE_NATS, SPREAD)
        return VoiTerms(f_now, f_ideal, f_next)

    def mean_photons_next(self) -> float:
        """Return the posterior mean of the photons the next pulse emits (S or 2S)."""
        k = photons_per_pulse(self._S, self.pulses)
        return float(np.dot(np.exp(self._logp), k))

    def predictive(self, mass_tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
        """Return (counts, pmf) of the next pulse's count under the posterior (model part).

        The counts span where the mixture has mass above about ``mass_tol``.
        """
        counts, log_l = self.model.predictive_matrix(self._S, self._logp, self.pulses, mass_tol)
        pmf = np.exp(logsumexp(log_l + self._logp[None, :], axis=1))
        return counts, pmf

    def copy(self) -> Posterior:
        """Return an independent copy (the count model's tables are shared, read-only)."""
        new = object.__new__(type(self))  # a shallow copy without copy.copy's generic protocol
        new.__dict__.update(self.__dict__)
        new.flags = list(self.flags)
        new._info = np.zeros(6)
        new._S, new._logp = self._S.copy(), self._logp.copy()
        new._S_buf, new._logp_buf = new._S, new._logp
        new._spare_S = np.empty(self._S.size, dtype=np.int64)
        new._spare_logp = np.empty(self._S.size)
        return new

    def __repr__(self) -> str:
        return (f"Posterior(N={self.N}, pulses={self.pulses}, map_S={self.map_S}, "
                f"pmax={self.pmax:.4g}, support={self._S.size}, backend={self.backend!r})")
