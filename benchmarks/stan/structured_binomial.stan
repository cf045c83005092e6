// Binomial logit model with one structured field (a first-order random walk over time or
// an ICAR over areas, given as its structure matrix Qs for an sd of 1, rank Js - 1: one
// series or one connected graph) and optionally one independent group effect:
//   logit p = X beta + sd_g zg[g] + us[s],  us = sd_s zs,  sum(zs) = 0.
// The constraint is imposed as in structured.stan (the last effect minus the sum of the
// others: a linear map with constant Jacobian, so the density on the constrained space is
// the intrinsic one); non-centred. has_g = 0: no independent effect (zg then has one
// element sampled from its N(0, 1) prior, unused). Stan 2.21 syntax (rstan 2.21).
data {
  int<lower=1> N;
  int<lower=1> P;
  matrix[N, P] X;
  int<lower=0> y[N];
  int<lower=1> n[N];
  int<lower=0, upper=1> has_g;
  int<lower=1> Jg;
  int<lower=1, upper=Jg> g[N];
  int<lower=2> Js;
  int<lower=1, upper=Js> s[N];
  matrix[Js, Js] Qs;
  real<lower=0> prior_sd;
  real<lower=0> hc_scale;
}
parameters {
  vector[P] beta;
  real<lower=0> sd_g[has_g];
  vector[Jg] zg;
  real<lower=0> sd_s;
  vector[Js - 1] zs_raw;
}
transformed parameters {
  vector[Js] zs = append_row(zs_raw, -sum(zs_raw));
  vector[Js] us = sd_s * zs;
}
model {
  vector[N] eta = X * beta + us[s];
  if (has_g == 1) eta += sd_g[1] * zg[g];
  beta ~ normal(0, prior_sd);
  sd_g ~ cauchy(0, hc_scale);
  sd_s ~ cauchy(0, hc_scale);
  zg ~ normal(0, 1);
  target += -0.5 * quad_form(Qs, zs);
  y ~ binomial_logit(n, eta);
}
generated quantities {
  vector[Jg] ug;
  if (has_g == 1) ug = sd_g[1] * zg;
  else ug = rep_vector(0, Jg);
}
