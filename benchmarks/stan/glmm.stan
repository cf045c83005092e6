// Generalised linear mixed model with K varying intercepts (non-centred), the
// reference for fastgibbs's binomial (logit and probit), Poisson and negative binomial families
// (benchmarks/stan/make_references.R). Stan 2.21 syntax (rstan from Debian).
// Priors as fastgibbs's: beta_m ~ N(prior_mu_m, prior_sd_m), sd_k ~ half-Cauchy(0,
// hc_scale_k), alpha ~ Gamma(alpha_shape, alpha_rate) (negative binomial only).
data {
  int<lower=1> N;
  int<lower=0> P;
  matrix[N, P] X;
  int<lower=0> K;
  int<lower=1> J[K];
  int<lower=1> g[N, K];
  int<lower=0> y[N];
  int<lower=0> trials[N];
  vector[N] offset;
  int<lower=1, upper=4> family;        // 1 binomial (logit), 2 Poisson, 3 NB2 (log), 4 binomial (probit)
  vector[P] prior_mu;
  vector<lower=0>[P] prior_sd;
  vector<lower=0>[K] hc_scale;
  real<lower=0> alpha_shape;
  real<lower=0> alpha_rate;
}
transformed data {
  int start[K];
  int total = 0;
  for (k in 1:K) {
    start[k] = total;
    total += J[k];
  }
}
parameters {
  vector[P] beta;
  vector<lower=0>[K] sd_u;
  vector[total] z;
  real<lower=0> alpha[family == 3 ? 1 : 0];
}
transformed parameters {
  vector[total] u;
  for (k in 1:K)
    u[(start[k] + 1):(start[k] + J[k])] = sd_u[k] * z[(start[k] + 1):(start[k] + J[k])];
}
model {
  vector[N] eta = X * beta + offset;
  for (i in 1:N)
    for (k in 1:K)
      eta[i] += u[start[k] + g[i, k]];
  beta ~ normal(prior_mu, prior_sd);
  sd_u ~ cauchy(0, hc_scale);
  z ~ std_normal();
  if (family == 1) {
    y ~ binomial_logit(trials, eta);
  } else if (family == 4) {          // log Phi in both tails (Phi(eta) underflows)
    for (i in 1:N)
      target += y[i] * normal_lcdf(eta[i] | 0, 1)
                + (trials[i] - y[i]) * normal_lccdf(eta[i] | 0, 1);
  } else if (family == 2) {
    y ~ poisson_log(eta);
  } else {
    alpha[1] ~ gamma(alpha_shape, alpha_rate);
    y ~ neg_binomial_2_log(eta, alpha[1]);
  }
}
