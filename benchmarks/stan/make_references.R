# Stan references for fastgibbs's GLMM families (issue 10: cbpp with an observation-level
# effect; issue 13: grouseticks Poisson, epil negative binomial; the crossed logistic NES
# model of the speed target; issue 14: contraception with the probit link). Writes
# tests/data/stan/<name>.json (posterior mean, sd, MCSE, bulk ESS, R-hat per fastgibbs
# parameter name; sampling time) and the datasets it used into src/fastgibbs/data/
# (grouseticks, epil) and tests/data/stan/.
#
#   Rscript benchmarks/stan/make_references.R [name ...]     (from the repository root)
#
# R 4.2 with rstan 2.21.7 (Debian's r-cran-rstan), lme4 1.1.31, MASS. Each model: 4 chains x
# (1000 warmup + 4000 draws), chains 2 at a time, adapt_delta 0.95; the same priors as the
# fastgibbs fits in tests/test_stan_references.py.
suppressPackageStartupMessages({library(rstan); library(lme4); library(MASS); library(jsonlite)})
options(mc.cores = 2)
rstan_options(auto_write = TRUE)
# Debian's r-cran-bh has no headers of its own: point rstan at the system Boost
if (!file.exists(rstan_options("boost_lib")) && dir.exists("/usr/include/boost"))
  rstan_options(boost_lib = "/usr/include")
args <- commandArgs(trailingOnly = TRUE)
out_dir <- "tests/data/stan"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
model <- stan_model("benchmarks/stan/glmm.stan")

fixed_names <- function(X) {
  n <- colnames(X)
  n[n == "(Intercept)"] <- "Intercept"
  n
}

run <- function(name, formula, data, family, factors, hc_scale, prior_sd, offset = NULL,
                trials = NULL, alpha_prior = c(0.01, 0.01), fg_names = NULL, draws = 4000,
                init_r = 2) {
  X <- model.matrix(formula, data)
  y <- model.response(model.frame(formula, data))
  if (is.matrix(y)) y <- y[, 1]          # cbind(successes, failures)
  g <- sapply(factors, function(f) as.integer(factor(data[[f]], levels = sort(unique(as.character(data[[f]]))))))
  if (is.null(dim(g))) g <- matrix(g, ncol = length(factors))
  J <- apply(g, 2, max)
  standata <- list(N = nrow(X), P = ncol(X), X = X, K = length(factors), J = as.array(J),
                   g = g, y = as.integer(y),
                   trials = as.integer(if (is.null(trials)) rep(0, nrow(X)) else trials),
                   offset = if (is.null(offset)) rep(0, nrow(X)) else offset,
                   family = c(binomial = 1, poisson = 2, negbinomial = 3, probit = 4)[[family]],
                   prior_mu = rep(0, ncol(X)), prior_sd = rep(prior_sd, ncol(X)),
                   hc_scale = as.array(rep(hc_scale, length(factors))),
                   alpha_shape = alpha_prior[1], alpha_rate = alpha_prior[2])
  t0 <- Sys.time()
  fit <- sampling(model, data = standata, chains = 4, iter = 1000 + draws, warmup = 1000,
                  seed = 20261201, refresh = 0, control = list(adapt_delta = 0.95),
                  init_r = init_r)
  seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  times <- get_elapsed_time(fit)
  mon <- monitor(as.array(fit), warmup = 0, print = FALSE)
  fixed <- fixed_names(X)
  if (!is.null(fg_names)) fixed <- unname(ifelse(fixed %in% names(fg_names), fg_names[fixed], fixed))
  params <- list()
  add <- function(stan, ours) {
    params[[ours]] <<- list(mean = mon[stan, "mean"], sd = mon[stan, "sd"],
                            mcse_mean = mon[stan, "se_mean"], ess_bulk = mon[stan, "Bulk_ESS"],
                            rhat = mon[stan, "Rhat"])
  }
  for (m in seq_along(fixed)) add(sprintf("beta[%d]", m), fixed[m])
  for (k in seq_along(factors)) add(sprintf("sd_u[%d]", k), sprintf("1|%s_sigma", factors[k]))
  if (family == "negbinomial") add("alpha[1]", "alpha")
  min_ess <- min(mon[, "Bulk_ESS"])
  result <- list(model = name, formula = deparse(formula), family = family,
                 factors = factors, n_obs = nrow(X), engine = paste("rstan", packageVersion("rstan")),
                 chains = 4, warmup = 1000, draws = draws,
                 priors = list(fixed = sprintf("Normal(0, %g)", prior_sd),
                               sds = sprintf("HalfCauchy(%g)", hc_scale),
                               alpha = sprintf("Gamma(%g, %g)", alpha_prior[1], alpha_prior[2])),
                 sampling_seconds_wall = seconds,
                 sampling_seconds_max_chain = max(rowSums(times)),
                 min_bulk_ess = min_ess, min_ess_per_second = min_ess / seconds,
                 divergences = sum(get_divergent_iterations(fit)),
                 parameters = params)
  write_json(result, file.path(out_dir, paste0(name, ".json")), auto_unbox = TRUE, digits = NA,
             pretty = TRUE)
  cat(sprintf("%s: %.1f s, min bulk ESS %.0f, %.1f min-ESS/s\n", name, seconds, min_ess,
              min_ess / seconds))
}

want <- function(name) length(args) == 0 || name %in% args

if (want("cbpp_olre")) {
  data(cbpp)
  cbpp$obs <- seq_len(nrow(cbpp))
  run("cbpp_olre", cbind(incidence, size - incidence) ~ period, cbpp, "binomial",
      c("herd", "obs"), hc_scale = 1, prior_sd = 5, trials = cbpp$size,
      fg_names = c(period2 = "period[2]", period3 = "period[3]", period4 = "period[4]"))
}

if (want("grouseticks")) {
  data(grouseticks)
  write.csv(grouseticks[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT")],
            "src/fastgibbs/data/grouseticks.csv", row.names = FALSE)
  run("grouseticks", TICKS ~ YEAR + cHEIGHT, grouseticks, "poisson",
      c("BROOD", "INDEX", "LOCATION"), hc_scale = 1, prior_sd = 5,
      fg_names = c(YEAR96 = "YEAR[96]", YEAR97 = "YEAR[97]"))
}

if (want("epil")) {
  data(epil)
  write.csv(epil, "src/fastgibbs/data/epil.csv", row.names = FALSE)
  run("epil", y ~ lbase * trt + lage + V4, epil, "negbinomial", c("subject"),
      hc_scale = 1, prior_sd = 5,
      fg_names = c(trtprogabide = "trt[progabide]", "lbase:trtprogabide" = "lbase:trt[progabide]"))
}

if (want("nes_crossed")) {
  nes <- read.csv("src/fastgibbs/data/nes_vote.csv")
  run("nes_crossed", rep_presvote ~ income, nes, "binomial", c("state", "year"),
      hc_scale = 1, prior_sd = 5, trials = rep(1, nrow(nes)), draws = 1000)
}

if (want("contraception_probit")) {
  # fastgibbs's copy of mlmRev's Contraception (age centred as there), probit link
  cc <- read.csv("src/fastgibbs/data/contraception.csv", colClasses = c(district = "character"))
  cc$use <- as.integer(cc$use == "Y")
  cc$age2 <- cc$age^2
  run("contraception_probit", use ~ age + age2 + urban + livch, cc, "probit", c("district"),
      hc_scale = 1, prior_sd = 5, trials = rep(1, nrow(cc)), init_r = 0.2,
      fg_names = c(urbanY = "urban[Y]", livch1 = "livch[1]", livch2 = "livch[2]",
                   "livch3+" = "livch[3+]"))
}
