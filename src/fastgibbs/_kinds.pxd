# Codes shared by the Python layer and the Cython kernels. `cpdef enum` makes each one
# a Python IntEnum of fastgibbs._kinds as well as a C enum for `cimport`, so there is
# one definition of every code (Python: ``from fastgibbs._kinds import Family``).

cpdef enum Family:
    # how the kernel turns the likelihood into weighted Gaussian statistics each sweep
    FAMILY_GAUSSIAN = 0        # fixed statistics; residual variance sigma2
    FAMILY_BINOMIAL = 1        # logit link, omega ~ PG(n, eta) (Polson, Scott & Windle 2013)
    FAMILY_NEGBINOMIAL = 2     # log link, omega ~ PG(y + alpha, eta - log alpha); alpha by slice
    FAMILY_POISSON = 3         # log link, auxiliary mixture + Metropolis-Hastings correction
    FAMILY_PROBIT = 4          # probit link, z ~ N(eta, 1) truncated by y (Albert & Chib 1993)
    FAMILY_STUDENT_T = 5       # t residuals as a scale mixture: weights lambda ~ Gamma, sigma2, nu
    FAMILY_CUMULATIVE = 6      # ordinal probit: z truncated to (gamma_{y-1}, gamma_y]; thresholds
                               # with z integrated out (Cowles 1996)

cpdef enum VariancePrior:
    PRIOR_INV_GAMMA = 0        # variance ~ InvGamma(a, b)
    PRIOR_HALF_CAUCHY = 1      # sd ~ half-Cauchy(0, A) through its inverse-gamma mixture
                               # (Wand et al. 2011, Bayesian Analysis 6(4))

cpdef enum Covariance:
    COV_DIAGONAL = 0           # independent variances, one prior each
    COV_INV_WISHART = 1        # full covariance, inverse-Wishart prior
    COV_HUANG_WAND = 2         # full covariance, matrix half-t prior (Huang & Wand 2013):
                               # inverse Wishart given auxiliaries a_c (in vc_xi)

cpdef enum Status:
    STATUS_OK = 0
    STATUS_CHOL_FIXED = 1      # fixed-effect precision not positive definite
    STATUS_CHOL_GROUP = 2      # a group-effect precision not positive definite
    STATUS_NONFINITE = 3       # a draw that is not finite
    STATUS_CHOL_WISHART = 4    # inverse-Wishart scale matrix not positive definite
    STATUS_INTERRUPTED = 5     # stopped by Ctrl-C or by another chain's failure

cpdef enum Structure:
    # the prior of a structured group term (fastgibbs.structured, fastgibbs.gmrf)
    STRUCT_NONE = 0            # independent N(0, Sigma_k) effects
    STRUCT_RW1 = 1             # random walk of order 1, precision Q / tau2
    STRUCT_RW2 = 2             # random walk of order 2, precision Q / tau2
    STRUCT_AR1 = 3             # stationary AR(1), precision Q(rho) / tau2; rho by slice
    STRUCT_ICAR = 4            # intrinsic CAR, scaled per component, precision Q / tau2
    STRUCT_BYM2 = 5            # BYM2: u = sd (sqrt(1-phi) v + sqrt(phi) s), s scaled ICAR
