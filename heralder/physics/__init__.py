"""Exact, fast theory of the heralding scheme: prior |c_S|², QFI, emission cascade, cavity rates.

Public API (DESIGN §10; notes/estimator.md §1, §5, §6)::

    log_prior(N, S)            log|c_S|² of |m_F=0⟩^⊗N, vectorised; -inf for wrong parity / S > N
    prior_support(N, tol_nats) (S, log_p) within tol of the maximum, O(support)
    qfi_pure(N, S)             QFI of |S,-S⟩ for G = Q_xx - Q_yy
    qfi_mixed(N, S, p)         QFI of Σ p_S |S,-S⟩⟨S,-S|
    mean_qfi(N, eta)           mean QFI after one TC pulse read with efficiency η
    cascade_rates(S, pulse)    step rates of a pulse's emission cascade, units of Γ

Physical parameters -> rates live in :mod:`heralder.physics.cavity`.
"""

from heralder.physics.cascade import cascade_rates, mean_pulse_duration, photons_per_pulse
from heralder.physics.prior import log_prior, peak_spin, prior_recursion, prior_support
from heralder.physics.qfi import mean_qfi, qfi_coupling, qfi_mixed, qfi_pure

__all__ = [
    "cascade_rates",
    "log_prior",
    "mean_pulse_duration",
    "mean_qfi",
    "peak_spin",
    "photons_per_pulse",
    "prior_recursion",
    "prior_support",
    "qfi_coupling",
    "qfi_mixed",
    "qfi_pure",
]
