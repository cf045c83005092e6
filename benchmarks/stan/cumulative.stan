// Ordinal (cumulative probit) model with one varying intercept, for the wine reference of
// fastgibbs's cumulative family (benchmarks/stan/make_wine_reference.R). Stan 2.21 syntax.
// P(y <= k) = Phi(c_k - eta), eta = X beta + u[g]; no intercept (the thresholds c hold it).
// Priors as the fastgibbs fit of tests/test_cumulative_wine.py: beta_m ~ N(0, prior_sd),
// c_k ~ N(0, c_sd) iid restricted to c_1 < ... < c_{K-1}, sd_u ~ half-Cauchy(0, hc_scale).
data {
  int<lower=1> N;
  int<lower=2> K;                 // categories
  int<lower=0> P;
  matrix[N, P] X;
  int<lower=1> J;
  int<lower=1, upper=J> g[N];
  int<lower=1, upper=K> y[N];
  real<lower=0> prior_sd;
  real<lower=0> c_sd;
  real<lower=0> hc_scale;
}
parameters {
  vector[P] beta;
  ordered[K - 1] c;
  real<lower=0> sd_u;
  vector[J] z_u;                  // non-centred: u = sd_u * z_u
}
transformed parameters {
  vector[J] u = sd_u * z_u;
}
model {
  vector[N] eta = X * beta;
  for (i in 1:N) eta[i] += u[g[i]];
  beta ~ normal(0, prior_sd);
  c ~ normal(0, c_sd);
  sd_u ~ cauchy(0, hc_scale);
  z_u ~ std_normal();
  y ~ ordered_probit(eta, c);
}
