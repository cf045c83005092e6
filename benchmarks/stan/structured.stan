// Gaussian model with a first-order random walk over time and an ICAR over areas, both
// with sum-to-zero constraints (the last effect is minus the sum of the others: a linear
// map of constant Jacobian, so the density on the constrained space is the intrinsic
// density), non-centred (u = sd z, z the field with sd 1: no funnel). Qt, Qa are the structure matrices for an sd of 1 (computed in
// make_structured_references.R); rank J - 1 each (one connected graph, one series).
data {
  int<lower=1> N;
  int<lower=1> P;
  matrix[N, P] X;
  vector[N] y;
  int<lower=2> Jt;
  int<lower=1, upper=Jt> t[N];
  matrix[Jt, Jt] Qt;
  int<lower=2> Ja;
  int<lower=1, upper=Ja> a[N];
  matrix[Ja, Ja] Qa;
  real<lower=0> prior_sd;
  real<lower=0> hc_scale;
}
parameters {
  vector[P] beta;
  real<lower=0> sigma;
  real<lower=0> sd_t;
  real<lower=0> sd_a;
  vector[Jt - 1] zt_raw;
  vector[Ja - 1] za_raw;
}
transformed parameters {
  vector[Jt] zt = append_row(zt_raw, -sum(zt_raw));
  vector[Ja] za = append_row(za_raw, -sum(za_raw));
  vector[Jt] ut = sd_t * zt;
  vector[Ja] ua = sd_a * za;
}
model {
  beta ~ normal(0, prior_sd);
  sigma ~ cauchy(0, hc_scale);
  sd_t ~ cauchy(0, hc_scale);
  sd_a ~ cauchy(0, hc_scale);
  target += -0.5 * quad_form(Qt, zt);
  target += -0.5 * quad_form(Qa, za);
  y ~ normal(X * beta + ut[t] + ua[a], sigma);
}
