"""Polya-Gamma PG(h, z) variates on numpy's ``bitgen_t``, without the GIL.

Notation (Polson, Scott & Windle 2013, "PSW"; Windle, Polson & Scott 2014, "WPS").
PG(h, z) = J*(h, z/2) / 4, where J*(h, Z) has density

    f(x | h, Z) = cosh(Z)^h exp(-Z^2 x / 2) f(x | h, 0),

and J*(h, 0) has Laplace transform cosh(sqrt(2 s))^(-h). Everything below works in
J* units with Z = |z| / 2 and divides by 4 at the end. lambda_k = pi^2 (2k-1)^2 / 8.

Small-x series of the J*(h, 0) density (expand cosh^-h and invert the Levy
Laplace transforms term by term), for every h > 0 and x > 0:

    f(x | h) = sum_n (-1)^n a_n(x),
    a_n(x) = 2^h Gamma(n+h) / (Gamma(h) n!) * (2n+h) / sqrt(2 pi x^3)
             * exp(-(2n+h)^2 / (2x)).

Methods (the switch points are the constants below):

* h == 1: PSW's exact alternating-series (Devroye) sampler, t = 0.64, proposal a
  mixture of a truncated inverse Gaussian (x <= t) and a truncated exponential
  (x > t); the right piece uses the large-x series a_n = pi (n+1/2) exp(-(n+1/2)^2
  pi^2 x / 2).
* integer 2 <= h <= N_DEVROYE: sum of h exact PG(1, z) draws (the z-dependent set-up
  is shared).
* other h < H_BIG: exact "alternate" sampler in the spirit of WPS Section 4, with
  constants derived here; h > H_PIECE is split into k = ceil(h / H_PIECE) equal
  pieces (PG is infinitely divisible: PG(a) + PG(b) = PG(a + b) for the same z) and
  the pieces are summed. For one piece of shape h:

  - Left envelope (x <= t): a_0(x), an upper bound of f whenever a_1 >= a_2 >= ...
    Write r_n = a_{n+1}/a_n = (n+h)/(n+1) (2n+2+h)/(2n+h) exp(-2(2n+1+h)/x).
    For h >= 1 every factor decreases in n, so r_1 < 1 suffices; for h < 1,
    r_n <= rho_n = (2n+2+h)/(2n+h) exp(-2(2n+1+h)/x), which decreases in n, so
    it suffices that r_1, ..., r_{N-1} < 1 and rho_N < 1 for some N. r_n grows with
    x, so alt_trunc() checks this at x = t.
    Tilted by exp(-Z^2 x/2) this is 2^h exp(-hZ) times an IG(h/Z, h^2) density.
  - Right envelope (x > t): write J*(h) = sum_k G_k, G_k ~ Gamma(h, lambda_k).
    With m = max(1, ceil(1/h)) and s = m h >= 1, the density of G_1 + ... + G_m is
    at most prod_{k<=m} lambda_k^h y^(s-1) exp(-lambda_1 y) / Gamma(s) (bound each
    exp(-lambda_k y_k) by exp(-lambda_1 y_k); Dirichlet integral), and
    y^(s-1) <= x^(s-1) for y <= x. With E exp(lambda_1 R) = prod_{k>m}
    (lambda_k / (lambda_k - lambda_1))^h for the rest R (Wallis: the product over
    k >= 2 is 4/pi), this gives for all x > 0

        f(x | h) <= C x^(s-1) exp(-pi^2 x / 8),
        C = (pi/2)^h prod_{k=2}^m (pi^2 k (k-1) / 2)^h / Gamma(s).

    For h >= 1 (m = 1) this is (pi/2)^h x^(h-1) exp(-pi^2 x/8) / Gamma(h), the
    exact large-x asymptote (log constant h log(pi/2)). Tilted: a truncated
    Gamma(s, pi^2/8 + Z^2/2).
  - Acceptance: U * envelope(x) is compared with partial sums of the small-x
    series; a partial sum S_n is used only once the terms from n+1 on are proven
    decreasing (same r_n / rho_n bounds), so each decision is exact. Right-piece
    proposals with x > X_ACCEPT are accepted without the test, because the series
    cancels catastrophically there. The chance that a draw meets such a proposal
    (p_right times the truncated-gamma tail beyond X_ACCEPT, maximized over z) is
    below 3e-29 for pieces h >= 1e-3, below 3e-23 for h >= 1e-6, and at most 2e-20
    (near h = 4e-8, where t reaches X_ACCEPT) for any h.
  - t(h): h for h >= 1 (0.99 of the bound if smaller), max(6, -3.75 log h) for
    h < 1 (shrunk until the left-envelope condition holds): close to the t that
    minimizes the total envelope mass at z = 0. Acceptance at z = 0 is about
    0.999 (h = 1), 0.9 (h = 2), 0.8 (h = 3), 0.71-0.999 (h < 1), and rises with |z|.

* h >= H_BIG: approximate. Shifted gamma matching the first three cumulants of
  PG(h, z) exactly (normal when the matched shape exceeds 1e8). PG(h, z) has
  excess kurtosis close to that of the matched gamma (at z = 0: 5.83/h vs 5.76/h),
  so the error is a fourth-cumulant mismatch of order 0.1/h.

Large |z| never overflows: mixture weights are formed in log space or with
exp(b^2/2) Phi(-b) written as a Mills ratio. Everything is reentrant (no libc
lgamma, which writes the global signgam), so kernels may call pg_draw from several
threads, each with its own bit generator.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.math cimport (
    exp, expm1, log, sqrt, erfc, fabs, floor, ceil, tanh, cosh, fmin, fmax,
    isfinite, NAN, INFINITY, M_PI,
)
from numpy.random cimport bitgen_t
from numpy import max as np_max

from fastgibbs._random cimport draw_normal, draw_uniform, draw_exponential, draw_gamma
from fastgibbs._special cimport log_gamma


# ---- switch points and constants -------------------------------------------------
cdef double H_BIG = 50.0         # h >= H_BIG: shifted-gamma approximation
cdef long N_DEVROYE = 8          # integer h <= N_DEVROYE: sum of PG(1, z) draws
cdef double H_PIECE = 3.0        # alternate pieces have shape <= H_PIECE
cdef double X_ACCEPT = 64.0      # see module docstring
cdef double GAMMA_NORMAL = 1e8   # matched gamma shape above which a normal is used

cdef double T_DEV = 0.64                        # PSW truncation point for h = 1
cdef double PI2_8 = M_PI * M_PI / 8.0           # lambda_1
cdef double PI2_2 = M_PI * M_PI / 2.0
cdef double LOG2 = 0.6931471805599453
cdef double LOG_PI_2 = 0.4515827052894549       # log(pi/2)
cdef double LOG_PI2_2 = 1.5963125911388549      # log(pi^2/2)
cdef double HALF_LOG_2PI = 0.9189385332046728   # log(sqrt(2 pi))
cdef double SQRT1_2 = 0.7071067811865476        # 1/sqrt(2)
cdef double INV_SQRT_2PI = 0.3989422804014327

# Taylor coefficients in c^2 (c = |z|/2) of m1 = tanh(c)/c, v = (tanh c - c sech^2 c)/c^3
# and w = (3 tanh c - 3c sech^2 c - 2c^2 sech^2 c tanh c)/c^5, from
# sum_k (lambda_k + c^2/2)^-p with sum_k lambda_k^-p = (8/pi^2)^p (1 - 4^-p) zeta(2p).
cdef double[8] TAY_M1 = [1.0, -0.33333333333333333, 0.13333333333333333,
                         -0.053968253968253968, 0.021869488536155203,
                         -0.0088632355299021966, 0.003592128036572481,
                         -0.0014558343870513183]
cdef double[8] TAY_V = [0.66666666666666667, -0.53333333333333333, 0.32380952380952381,
                        -0.17495590828924162, 0.088632355299021966,
                        -0.043105536438869772, 0.020381681418718456,
                        -0.0094404390551293757]
cdef double[8] TAY_W = [1.0666666666666667, -1.2952380952380952, 1.0497354497354497,
                        -0.70905884239217573, 0.43105536438869772,
                        -0.24458017702462147, 0.13216614677181126,
                        -0.068869184902143115]
cdef double TAYLOR_C = 0.1       # use the Taylor series for c < TAYLOR_C


# ---- plans: everything that depends only on (h, z) --------------------------------
cdef struct devroye_plan:
    double Z          # |z| / 2
    double K          # pi^2/8 + Z^2/2, rate of the right (exponential) piece
    double p_right    # probability of proposing from the right piece
    double half_z2    # Z^2 / 2
    double mu         # 1 / Z, mean of the left inverse Gaussian
    int levy          # left piece: truncated Levy + tilt acceptance (Z < 1/t)

cdef struct alt_plan:
    double h, Z, t, s, hh, half_z2
    double lam        # pi^2/8 + Z^2/2
    double p_right
    double K0         # log(C / a_0 prefactor), see alt_sample
    double levy_a     # left piece: |N| > levy_a, x = h^2 / N^2
    double robert     # optimal exponential rate for the normal tail |N| > levy_a
    double mu         # h / Z
    double tau, bd, ystar  # right piece in y = lam x units: y > tau, Dagpunar rate
    int levy
    int right_full    # right piece by rejection from the untruncated gamma
    int small_h       # h < 1

cdef struct approx_plan:
    double mean, sd, shape

cdef struct pg_plan:
    int method        # 0 invalid (NaN), 1 Devroye sum, 2 alternate pieces, 3 approx
    long count        # number of summed draws for methods 1 and 2
    devroye_plan dev
    alt_plan alt
    approx_plan apx


# ---- scalar helpers ---------------------------------------------------------------
cdef inline double norm_cdf(double x) noexcept nogil:
    return 0.5 * erfc(-x * SQRT1_2)


cdef inline double mills(double b) noexcept nogil:
    """exp(b^2/2) Phi(-b) for b >= 0, without overflow."""
    cdef double x
    if b < 25.0:
        return 0.5 * exp(0.5 * b * b) * erfc(b * SQRT1_2)
    # Phi(-b)/phi(b) ~ (1/b)(1 - 1/b^2 + 3/b^4 - 15/b^6 + 105/b^8 - 945/b^10)
    x = 1.0 / (b * b)
    return INV_SQRT_2PI / b * (1.0 - x * (1.0 - 3.0 * x * (1.0 - 5.0 * x * (
        1.0 - 7.0 * x * (1.0 - 9.0 * x)))))


cdef double log_gamma_q(double s, double x) noexcept nogil:
    """log of the regularized upper incomplete gamma Q(s, x), s > 0, x >= 0.

    Series for P when x < s + 1, modified Lentz continued fraction for Q otherwise.
    """
    cdef double total, term, b, c, d, f, an, delta, lpre
    cdef int i
    if x <= 0.0:
        return 0.0
    if x == INFINITY:
        return -INFINITY
    lpre = -x + s * log(x) - log_gamma(s)
    if x < s + 1.0:
        term = 1.0 / s
        total = term
        for i in range(1, 1000):
            term *= x / (s + i)
            total += term
            if term < total * 1e-17:
                break
        return log(-expm1(lpre + log(total)))
    b = x + 1.0 - s
    c = 1e300
    d = 1.0 / b
    f = d
    for i in range(1, 1000):
        an = -i * (i - s)
        b += 2.0
        d = an * d + b
        if fabs(d) < 1e-300:
            d = 1e-300
        c = b + an / c
        if fabs(c) < 1e-300:
            c = 1e-300
        d = 1.0 / d
        delta = d * c
        f *= delta
        if fabs(delta - 1.0) < 1e-16:
            break
    return lpre + log(f)


cdef inline bint tail_normal(bitgen_t *bg, double a, double alpha, double *out) noexcept nogil:
    """One try of Robert's (1995) N(0,1) | N > a sampler (rate alpha); 1 if accepted."""
    cdef double x = a + draw_exponential(bg) / alpha
    cdef double d = x - alpha
    if draw_exponential(bg) >= 0.5 * d * d:
        out[0] = x
        return 1
    return 0


# ---- h = 1: Devroye / PSW ---------------------------------------------------------
cdef void devroye_setup(devroye_plan *p, double Z) noexcept nogil:
    cdef double a, b, e, ez, qp, logqp
    p.Z = Z
    p.half_z2 = 0.5 * Z * Z
    p.K = PI2_8 + p.half_z2
    p.levy = Z < 1.0 / T_DEV
    p.mu = 1.0 / Z if Z > 0.0 else INFINITY
    # q/p = mass(left) / mass(right)
    #     = (4K/pi) e^{Kt} [e^{-Z} Phi((Zt-1)/sqrt t) + e^{Z} Phi(-(Zt+1)/sqrt t)]
    a = (Z * T_DEV - 1.0) / 0.8
    b = (Z * T_DEV + 1.0) / 0.8
    if Z < 30.0:
        e = exp(p.half_z2 * T_DEV)
        ez = exp(Z)
        qp = (4.0 * p.K / M_PI) * exp(PI2_8 * T_DEV) * (
            (e / ez) * norm_cdf(a) + (e * ez) * 0.5 * erfc(b * SQRT1_2))
    else:
        logqp = (log(4.0 * p.K / M_PI) + PI2_8 * T_DEV + p.half_z2 * T_DEV - Z
                 + log(norm_cdf(a) + exp(-0.5 * a * a) * mills(b)))
        qp = exp(logqp)
    p.p_right = 1.0 / (1.0 + qp)


cdef inline double devroye_left(bitgen_t *bg, const devroye_plan *p) noexcept nogil:
    """IG(1/Z, 1) truncated to (0, t]."""
    cdef double e1, x, n, w
    if p.levy:
        while True:
            # 1/X ~ chi^2_1 restricted to > 1/t: |N| > 1/sqrt(t) by exponential tail
            while True:
                e1 = draw_exponential(bg)
                if e1 * e1 <= (2.0 / T_DEV) * draw_exponential(bg):
                    break
            x = 1.0 + T_DEV * e1
            x = T_DEV / (x * x)
            if p.half_z2 == 0.0 or draw_exponential(bg) > p.half_z2 * x:
                return x
    while True:
        # Michael, Schucany & Haas (1976), root written without cancellation
        n = draw_normal(bg)
        w = p.mu * n * n
        x = p.mu / (1.0 + 0.5 * w + sqrt(w + 0.25 * w * w))
        if draw_uniform(bg) * (p.mu + x) > p.mu:
            x = p.mu * (p.mu / x)
        if x <= T_DEV:
            return x


cdef inline bint series_h1(double u, double q) noexcept nogil:
    """Alternating-series test u <= f/a_0 with a_n/a_0 = (2n+1) q^(n(n+1))."""
    cdef double s = 1.0, qn = 1.0, q2 = q * q, r = q * q, term
    cdef long n = 0
    while True:
        n += 1
        qn *= r
        r *= q2
        term = (2 * n + 1) * qn
        if n & 1:
            s -= term
            if u <= s:
                return 1
        else:
            s += term
            if u > s:
                return 0


cdef double devroye_sample(bitgen_t *bg, const devroye_plan *p) noexcept nogil:
    """One J*(1, Z) draw (multiply by 1/4 for PG(1, 2Z))."""
    cdef double x, q
    while True:
        if draw_uniform(bg) < p.p_right:
            x = T_DEV + draw_exponential(bg) / p.K
            q = exp(-PI2_2 * x)
        else:
            x = devroye_left(bg, p)
            q = exp(-2.0 / x)
        if series_h1(draw_uniform(bg), q):
            return x


# ---- real h: alternate sampler ----------------------------------------------------
cdef bint left_envelope_ok(double h, double t) noexcept nogil:
    """True if r_n(t) < 1 for every n >= 1 (h < 1), so a_0 >= f on (0, t].

    r_n(x) increases with x, so checking x = t covers (0, t]. Once
    rho_n(t) < 1, r_k <= rho_k <= rho_n < 1 for all k >= n.
    """
    cdef long n = 1
    cdef double rho
    while True:
        rho = (2 * n + 2 + h) / (2 * n + h) * exp(-2.0 * (2 * n + 1 + h) / t)
        if rho < 1.0:
            return 1
        if (n + h) / (n + 1) * rho >= 1.0:
            return 0
        n += 1


cdef double alt_trunc(double h) noexcept nogil:
    """Truncation point t(h), kept where a_1 >= a_2 >= ... (module docstring)."""
    cdef double r1, t
    if h >= 1.0:
        # r_n decreases in n, so r_1(x) < 1 is the whole condition
        r1 = log((1.0 + h) * (4.0 + h) / (2.0 * (2.0 + h)))
        return fmin(h, 0.99 * 2.0 * (3.0 + h) / r1)
    # near-optimal envelope mass at z = 0; small h needs a large t because the
    # right envelope constant grows like h^-2
    t = fmax(6.0, -3.75 * log(h))
    while not left_envelope_ok(h, t):
        t *= 0.9
    return t


cdef void alt_setup(alt_plan *p, double h, double Z) noexcept nogil:
    cdef double m = 1.0
    cdef double s, t, sq, a, b, logC, logL, logR, logQ
    if h < 1.0:
        m = ceil(1.0 / h)
        if m * h < 1.0:
            m += 1.0
    s = fmax(m * h, 1.0)   # the max only absorbs rounding when m exceeds 2^53
    t = alt_trunc(h)
    p.h = h
    p.Z = Z
    p.t = t
    p.s = s
    p.hh = h * h
    p.half_z2 = 0.5 * Z * Z
    p.lam = PI2_8 + p.half_z2
    p.small_h = h < 1.0
    # right envelope C x^(s-1) exp(-pi^2 x/8); tilted mass C Gamma(s) Q(s, lam t) / lam^s
    logC = h * LOG_PI_2 + h * ((m - 1.0) * LOG_PI2_2 + log_gamma(m + 1.0) + log_gamma(m)) \
        - log_gamma(s)
    p.tau = p.lam * t
    logQ = log_gamma_q(s, p.tau)
    logR = logC + log_gamma(s) - s * log(p.lam) + logQ
    # left envelope a_0(x) exp(-Z^2 x/2) = 2^h e^{-hZ} IG(x; h/Z, h^2); its mass
    # 2^h e^{-hZ} [Phi(a) + e^{2hZ} Phi(-b)] with e^{2hZ} Phi(-b) = e^{-a^2/2} M(b)
    sq = sqrt(t)
    a = (Z * t - h) / sq
    b = (Z * t + h) / sq
    logL = h * LOG2 - h * Z + log(norm_cdf(a) + exp(-0.5 * a * a) * mills(b))
    p.p_right = 1.0 / (1.0 + exp(logL - logR))
    p.K0 = logC - h * LOG2 - log(h) + HALF_LOG_2PI
    # left: Levy + tilt acceptance (rate e^{-hZ} P_IG / P_Levy) unless the inverse
    # Gaussian with rejection above t (rate P_IG) is better
    p.levy_a = h / sq
    p.robert = 0.5 * (p.levy_a + sqrt(p.levy_a * p.levy_a + 4.0))
    p.levy = Z == 0.0 or exp(-h * Z) > erfc(p.levy_a * SQRT1_2)
    p.mu = h / Z if Z > 0.0 else INFINITY
    # right: untruncated gamma + rejection when Q(s, tau) >= 1/2, else Dagpunar (1978)
    # exponential proposal y = tau + E/bd with the optimal rate
    p.right_full = logQ > -LOG2
    p.bd = 1.0
    p.ystar = p.tau + 1.0
    if not p.right_full and p.p_right > 0.0:
        p.bd = (p.tau - s + sqrt((p.tau - s) * (p.tau - s) + 4.0 * p.tau)) / (2.0 * p.tau)
        p.ystar = p.tau + 1.0 / p.bd


cdef inline double alt_left(bitgen_t *bg, const alt_plan *p) noexcept nogil:
    """IG(h/Z, h^2) truncated to (0, t]."""
    cdef double n, x, w
    if p.levy:
        while True:
            if p.levy_a < 0.3:
                while True:
                    n = draw_normal(bg)
                    if fabs(n) > p.levy_a:
                        break
            else:
                while not tail_normal(bg, p.levy_a, p.robert, &n):
                    pass
            x = p.hh / (n * n)
            if p.half_z2 == 0.0 or draw_exponential(bg) > p.half_z2 * x:
                return x
    while True:
        n = draw_normal(bg)
        w = p.mu * n * n / p.hh
        x = p.mu / (1.0 + 0.5 * w + sqrt(w + 0.25 * w * w))
        if draw_uniform(bg) * (p.mu + x) > p.mu:
            x = p.mu * (p.mu / x)
        if x <= p.t:
            return x


cdef inline double alt_right(bitgen_t *bg, const alt_plan *p) noexcept nogil:
    """Gamma(s, lam) truncated to (t, inf)."""
    cdef double x, y
    if p.right_full:
        while True:
            x = draw_gamma(bg, p.s, p.lam)
            if x > p.t:
                return x
    while True:
        y = p.tau + draw_exponential(bg) / p.bd
        if p.s == 1.0:
            break
        if -draw_exponential(bg) <= (p.s - 1.0) * log(y / p.ystar) - (1.0 - p.bd) * (y - p.ystar):
            break
    return y / p.lam


cdef bint alt_series(double y, double x, double h, bint small_h) noexcept nogil:
    """Decide y <= f(x | h, 0) / a_0(x) with partial sums of the small-x series."""
    cdef double q = exp(-2.0 / x)
    cdef double q2 = q * q
    cdef double r = exp(-2.0 * (1.0 + h) / x)   # E_{n+1}/E_n, E_n = exp(-2n(n+h)/x)
    cdef double s = 1.0, c = 1.0, e = 1.0, rn1, ratio, term
    cdef bint valid = 0
    cdef long n = 0
    while True:
        if not valid:
            # terms from n+1 on decrease: r_{n+1} < 1 (and rho_{n+2} < 1 if h < 1)
            rn1 = r * q2
            ratio = (n + 1 + h) / (n + 2) * (2 * n + 4 + h) / (2 * n + 2 + h) * rn1
            if small_h:
                valid = ratio < 1.0 and (2 * n + 6 + h) / (2 * n + 4 + h) * rn1 * q2 < 1.0
            else:
                valid = ratio < 1.0
        if valid:
            if n & 1:
                if y <= s:
                    return 1
            elif y > s:
                return 0
        c *= (n + h) / (n + 1)
        e *= r
        r *= q2
        n += 1
        term = c * (2 * n + h) / h * e
        if n & 1:
            s -= term
        else:
            s += term


cdef double alt_sample(bitgen_t *bg, const alt_plan *p) noexcept nogil:
    """One J*(h, Z) draw (multiply by 1/4 for PG(h, 2Z))."""
    cdef double x, y
    while True:
        if draw_uniform(bg) < p.p_right:
            x = alt_right(bg, p)
            if x > X_ACCEPT:
                return x
            # envelope / a_0 = exp(K0 + (s + 1/2) log x - pi^2 x/8 + h^2/(2x))
            y = draw_uniform(bg) * exp(p.K0 + (p.s + 0.5) * log(x) - PI2_8 * x
                                       + 0.5 * p.hh / x)
        else:
            x = alt_left(bg, p)
            y = draw_uniform(bg)
        if alt_series(y, x, p.h, p.small_h):
            return x


# ---- large h: moment-matched shifted gamma ----------------------------------------
cdef inline double poly8(const double *a, double x) noexcept nogil:
    return a[0] + x * (a[1] + x * (a[2] + x * (a[3] + x * (a[4] + x * (a[5] + x * (
        a[6] + x * a[7]))))))


cdef void approx_setup(approx_plan *p, double h, double c) noexcept nogil:
    """Cumulants of PG(h, 2c): k1 = h m1/4, k2 = h v/16, k3 = h w/64."""
    cdef double c2 = c * c, m1, v, w, th, sech2, vhat, what, skew
    if c < TAYLOR_C:
        m1 = poly8(TAY_M1, c2)
        v = poly8(TAY_V, c2)
        w = poly8(TAY_W, c2)
        p.mean = 0.25 * h * m1
        p.sd = sqrt(h * v) * 0.25
        skew = w / (v * sqrt(v) * sqrt(h))
    else:
        th = tanh(c)
        sech2 = 1.0 / cosh(c)
        sech2 = sech2 * sech2
        vhat = th - c * sech2                              # v c^3
        what = 3.0 * th - 3.0 * c * sech2 - 2.0 * c2 * sech2 * th   # w c^5
        p.mean = 0.25 * h * th / c
        p.sd = 0.25 * sqrt(h * vhat / c) / c
        skew = what / (vhat * sqrt(vhat) * sqrt(h * c))
    p.shape = 4.0 / (skew * skew) if skew > 0.0 else INFINITY


cdef inline double approx_sample(bitgen_t *bg, const approx_plan *p) noexcept nogil:
    cdef double g
    if p.shape > GAMMA_NORMAL:
        return p.mean + p.sd * draw_normal(bg)
    g = draw_gamma(bg, p.shape, 1.0)
    return p.mean + p.sd * (g - p.shape) / sqrt(p.shape)


# ---- dispatch ---------------------------------------------------------------------
cdef void plan_setup(pg_plan *p, double h, double z, int method) noexcept nogil:
    """method: 0 automatic; 1 Devroye sum; 3 approximation; 4 exact (0 without the
    approximation). Method 2 (one alternate piece) is plan_setup_single."""
    cdef double Z = 0.5 * fabs(z)
    cdef long k
    p.count = 1
    if not (h > 0.0) or not isfinite(h) or not isfinite(z):
        p.method = 0
        return
    if method == 0 or method == 4:
        if h >= H_BIG and method == 0:
            method = 3
        elif h == floor(h) and h <= N_DEVROYE:
            method = 1
        else:
            method = 2
    if method == 1:
        if h != floor(h):
            p.method = 0
            return
        p.method = 1
        p.count = <long>h
        devroye_setup(&p.dev, Z)
    elif method == 2:
        p.method = 2
        k = 1
        if h > H_PIECE:
            k = <long>ceil(h / H_PIECE)
        p.count = k
        alt_setup(&p.alt, h / k, Z)
    else:
        p.method = 3
        approx_setup(&p.apx, h, Z)


cdef void plan_setup_single(pg_plan *p, double h, double z) noexcept nogil:
    """Alternate sampler with exactly one piece (testing hook)."""
    p.count = 1
    if not (h > 0.0) or not isfinite(h) or not isfinite(z):
        p.method = 0
        return
    p.method = 2
    alt_setup(&p.alt, h, 0.5 * fabs(z))


cdef double plan_sample(bitgen_t *bg, const pg_plan *p) noexcept nogil:
    cdef double total = 0.0
    cdef long i
    if p.method == 1:
        for i in range(p.count):
            total += devroye_sample(bg, &p.dev)
        return 0.25 * total
    if p.method == 2:
        for i in range(p.count):
            total += alt_sample(bg, &p.alt)
        return 0.25 * total
    if p.method == 3:
        return approx_sample(bg, &p.apx)
    return NAN


cdef double pg_draw(bitgen_t *bg, double h, double z) noexcept nogil:
    cdef pg_plan p
    plan_setup(&p, h, z, 0)
    return plan_sample(bg, &p)


cdef double pg_draw_int(bitgen_t *bg, long n, double z) noexcept nogil:
    if n < 1:
        return NAN
    return pg_draw(bg, <double>n, z)


# ---- Python entry points (called by fastgibbs.polyagamma after validation) --------
cdef bitgen_t *_unwrap(object bit_generator) except NULL:
    return <bitgen_t *>PyCapsule_GetPointer(bit_generator.capsule, "BitGenerator")


def fill(double[::1] out, const double[::1] h, const double[::1] z, object bit_generator,
         int method=0):
    """Fill ``out`` with PG(h[i], z[i]) draws under the bit generator's lock.

    ``h`` and ``z`` have length 1 (broadcast) or ``len(out)``; they must already be
    validated (h > 0 finite, z finite). ``method``: 0 automatic (the public
    behaviour); 1 Devroye sum (integer h); 2 a single alternate piece (h <= 20:
    X_ACCEPT assumes small pieces); 3 the large-h approximation; 4 exact methods
    only (as 0, but pieces instead of the approximation for h >= H_BIG). Methods 1-4
    exist for the tests. The (h, z) set-up is reused while consecutive (h, z) pairs
    repeat.
    """
    cdef bitgen_t *bg = _unwrap(bit_generator)
    cdef Py_ssize_t n = out.shape[0], i
    cdef Py_ssize_t sh = 1 if h.shape[0] > 1 else 0
    cdef Py_ssize_t sz = 1 if z.shape[0] > 1 else 0
    cdef double hi, zi, last_h = NAN, last_z = NAN
    cdef pg_plan plan
    if n == 0:
        return
    if h.shape[0] not in (1, n) or z.shape[0] not in (1, n):
        raise ValueError("h and z must have length 1 or len(out)")
    if method not in (0, 1, 2, 3, 4):
        raise ValueError("method must be 0, 1, 2, 3 or 4")
    if method == 2 and np_max(h) > 20.0:
        raise ValueError("method 2 (one alternate piece) is for h <= 20")
    with bit_generator.lock, nogil:
        for i in range(n):
            hi = h[i * sh]
            zi = z[i * sz]
            if hi != last_h or zi != last_z:
                if method == 2:
                    plan_setup_single(&plan, hi, zi)
                else:
                    plan_setup(&plan, hi, zi, method)
                last_h = hi
                last_z = zi
            out[i] = plan_sample(bg, &plan)


def fill_scalar_calls(double[::1] out, double h, double z, object bit_generator):
    """Fill ``out`` by calling ``pg_draw`` once per element (no set-up reuse).

    This is the path the Gibbs kernels take; it exists for tests and benchmarks.
    """
    cdef bitgen_t *bg = _unwrap(bit_generator)
    cdef Py_ssize_t i
    with bit_generator.lock, nogil:
        for i in range(out.shape[0]):
            out[i] = pg_draw(bg, h, z)


def alt_parameters(double h, double z):
    """Set-up of one alternate piece, as a dict (for tests and documentation)."""
    cdef alt_plan p
    alt_setup(&p, h, 0.5 * fabs(z))
    return dict(t=p.t, s=p.s, p_right=p.p_right, levy=bool(p.levy),
                right_full=bool(p.right_full))


def devroye_parameters(double z):
    """Set-up of the h = 1 sampler, as a dict (for tests and documentation)."""
    cdef devroye_plan p
    devroye_setup(&p, 0.5 * fabs(z))
    return dict(t=T_DEV, p_right=p.p_right, levy=bool(p.levy))


SWITCH_POINTS = dict(H_BIG=H_BIG, N_DEVROYE=N_DEVROYE, H_PIECE=H_PIECE,
                     X_ACCEPT=X_ACCEPT, GAMMA_NORMAL=GAMMA_NORMAL)
