# References for fastgibbs's cumulative (ordinal probit) family on ordinal::wine
# (Randall 1989; Christensen's `ordinal` package): rating ~ temp + contact + (1 | judge).
#   - src/fastgibbs/data/wine.csv: the data (rating 1..5, temp, contact, bottle, judge);
#   - tests/data/wine_clmm.json: ordinal::clmm(link = "probit") maximum likelihood
#     (Laplace), estimates and standard errors;
#   - tests/data/stan/wine_cumulative.json: rstan posterior (mean, sd, MCSE, bulk ESS,
#     R-hat per fastgibbs parameter name; sampling time), benchmarks/stan/cumulative.stan,
#     priors beta ~ N(0, 5), thresholds ~ N(0, 5) ordered, judge sd ~ half-Cauchy(1).
#
#   Rscript benchmarks/stan/make_wine_reference.R       (from the repository root)
#
# R 4.2, ordinal 2022.11, rstan 2.21: 4 chains x (1000 warmup + 5000 draws), 2 at a time.
suppressPackageStartupMessages({library(ordinal); library(rstan); library(jsonlite)})
options(mc.cores = 2)
rstan_options(auto_write = TRUE)
if (!file.exists(rstan_options("boost_lib")) && dir.exists("/usr/include/boost"))
  rstan_options(boost_lib = "/usr/include")
data(wine)
wine_out <- data.frame(rating = as.integer(as.character(wine$rating)), temp = wine$temp,
                       contact = wine$contact, bottle = wine$bottle, judge = wine$judge)
write.csv(wine_out, "src/fastgibbs/data/wine.csv", row.names = FALSE)

# maximum likelihood
ml <- clmm(rating ~ temp + contact + (1 | judge), data = wine, link = "probit")
est <- c(ml$beta, ml$alpha)
se <- sqrt(diag(vcov(ml)))[names(est)]
names_fg <- c(tempwarm = "temp[warm]", contactyes = "contact[yes]", "1|2" = "threshold[1]",
              "2|3" = "threshold[2]", "3|4" = "threshold[3]", "4|5" = "threshold[4]")
ml_out <- list(
  model = "wine", formula = "rating ~ temp + contact + (1 | judge)", link = "probit",
  engine = paste("ordinal", packageVersion("ordinal"), "clmm (Laplace)"),
  logLik = as.numeric(logLik(ml)),
  estimates = as.list(setNames(unname(est), names_fg[names(est)])),
  std_errors = as.list(setNames(unname(se), names_fg[names(est)])),
  judge_sd = as.numeric(attr(VarCorr(ml)$judge, "stddev")))
write_json(ml_out, "tests/data/wine_clmm.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)

# Stan
X <- model.matrix(~ temp + contact, wine)[, -1, drop = FALSE]
standata <- list(N = nrow(X), K = 5L, P = ncol(X), X = X, J = nlevels(wine$judge),
                 g = as.integer(wine$judge), y = as.integer(wine$rating),
                 prior_sd = 5, c_sd = 5, hc_scale = 1)
model <- stan_model("benchmarks/stan/cumulative.stan")
draws <- 5000
t0 <- Sys.time()
fit <- sampling(model, data = standata, chains = 4, iter = 1000 + draws, warmup = 1000,
                seed = 20261201, refresh = 0, control = list(adapt_delta = 0.95))
seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
times <- get_elapsed_time(fit)
mon <- monitor(as.array(fit), warmup = 0, print = FALSE)
params <- list()
add <- function(stan, ours) {
  params[[ours]] <<- list(mean = mon[stan, "mean"], sd = mon[stan, "sd"],
                          mcse_mean = mon[stan, "se_mean"], ess_bulk = mon[stan, "Bulk_ESS"],
                          rhat = mon[stan, "Rhat"])
}
add("beta[1]", "temp[warm]")
add("beta[2]", "contact[yes]")
for (k in 1:4) add(sprintf("c[%d]", k), sprintf("threshold[%d]", k))
add("sd_u", "1|judge_sigma")
keep <- !grepl("^lp__", rownames(mon))
min_ess <- min(mon[keep, "Bulk_ESS"])
result <- list(model = "wine_cumulative", formula = "rating ~ temp + contact + (1 | judge)",
               family = "cumulative", link = "probit", n_obs = nrow(X),
               engine = paste("rstan", packageVersion("rstan")), chains = 4, warmup = 1000,
               draws = draws,
               priors = list(fixed = "Normal(0, 5)", threshold = "Normal(0, 5)",
                             sds = "HalfCauchy(1)"),
               sampling_seconds_wall = seconds, sampling_seconds_max_chain = max(rowSums(times)),
               min_bulk_ess = min_ess, min_ess_per_second = min_ess / seconds,
               divergences = sum(get_divergent_iterations(fit)), parameters = params)
write_json(result, "tests/data/stan/wine_cumulative.json", auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
cat(sprintf("wine: %.1f s, min bulk ESS %.0f, %.1f min-ESS/s, %d divergences\n", seconds,
            min_ess, min_ess / seconds, sum(get_divergent_iterations(fit))))
