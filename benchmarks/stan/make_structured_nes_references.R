# Stan references for fastgibbs's structured terms on real data (issue 15):
#
#  nes_rw1:  NES presidential vote 1952-2000 (src/fastgibbs/data/nes_vote.csv),
#            rep_presvote ~ income + (1 | state) + (1 | year), logit, with a first-order
#            random walk over the (equally spaced) election years on 1|year.
#  nes_icar: the same data pooled over years, one cell per state and income, with an
#            ICAR over the contiguous states (tests/data/stan/us_states_adjacency.csv; the
#            one Hawaii respondent group is left out) on 1|state and no year term; VT and MT
#            have no respondents and are part of the field.
#
# The bernoulli rows are aggregated into binomial cells (state x year x income; state x
# income): the likelihood is the same, and Stan is ~20 times faster on cells. The cells are
# written to tests/data/stan/<name>_cells.csv, and fastgibbs is fitted to the same cells in
# tests/test_stan_structured.py. Structure matrices from their definitions: RW1
# D' diag(1 / gap) D, gaps in units of the median gap; ICAR the graph Laplacian times the
# Sorbye & Rue (2014) factor, the geometric mean of diag(ginv(L)). Priors: Normal(0, 5)
# on the fixed effects, HalfCauchy(1) on the sds. Writes tests/data/stan/<name>.json
# (posterior mean, sd, MCSE, bulk ESS, R-hat per fastgibbs parameter name).
#
#   Rscript benchmarks/stan/make_structured_nes_references.R     (from the repository root)
#
# R 4.2, rstan 2.21; 4 chains x (1000 warmup + 3000 draws), 2 at a time, adapt_delta 0.95.
suppressPackageStartupMessages({library(rstan); library(MASS); library(jsonlite)})
options(mc.cores = 2)
rstan_options(auto_write = TRUE)
if (!file.exists(rstan_options("boost_lib")) && dir.exists("/usr/include/boost"))
  rstan_options(boost_lib = "/usr/include")

dir <- "tests/data/stan"
model <- stan_model("benchmarks/stan/structured_binomial.stan")
nes <- read.csv("src/fastgibbs/data/nes_vote.csv")
adj <- read.csv(file.path(dir, "us_states_adjacency.csv"), comment.char = "#",
                stringsAsFactors = FALSE)

cells <- function(keys) {
  y <- aggregate(nes$rep_presvote, nes[keys], sum)
  n <- aggregate(nes$rep_presvote, nes[keys], length)
  out <- y[keys]
  out$rep <- y$x
  out$n <- n$x
  out[do.call(order, out[keys]), ]
}

run <- function(name, data, X, fixed, s, Qs, s_names, s_term, g = NULL, g_names = NULL,
                g_term = NULL) {
  write.csv(data, file.path(dir, paste0(name, "_cells.csv")), row.names = FALSE)
  standata <- list(N = nrow(X), P = ncol(X), X = X, y = data$rep, n = data$n,
                   has_g = as.integer(!is.null(g)), Jg = if (is.null(g)) 1 else max(g),
                   g = if (is.null(g)) rep(1L, nrow(X)) else g, Js = nrow(Qs), s = s, Qs = Qs,
                   prior_sd = 5, hc_scale = 1)
  t0 <- Sys.time()
  fit <- sampling(model, data = standata, chains = 4, iter = 4000, warmup = 1000,
                  seed = 20261201, refresh = 0, control = list(adapt_delta = 0.95))
  seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  cpu <- sum(get_elapsed_time(fit))
  mon <- monitor(as.array(fit), warmup = 0, print = FALSE)
  params <- list()
  add <- function(stan, ours) {
    params[[ours]] <<- list(mean = mon[stan, "mean"], sd = mon[stan, "sd"],
                            mcse_mean = mon[stan, "se_mean"], ess_bulk = mon[stan, "Bulk_ESS"],
                            rhat = mon[stan, "Rhat"])
  }
  for (m in seq_along(fixed)) add(sprintf("beta[%d]", m), fixed[m])
  add("sd_s", paste0(s_term, "_sigma"))
  for (j in seq_along(s_names)) add(sprintf("us[%d]", j), sprintf("%s[%s]", s_term, s_names[j]))
  if (!is.null(g)) {
    add("sd_g[1]", paste0(g_term, "_sigma"))
    for (j in seq_along(g_names)) add(sprintf("ug[%d]", j), sprintf("%s[%s]", g_term, g_names[j]))
  }
  result <- list(model = name, engine = paste("rstan", packageVersion("rstan")), chains = 4,
                 warmup = 1000, draws = 3000,
                 priors = list(fixed = "Normal(0, 5)", sds = "HalfCauchy(1)"),
                 sampling_seconds_wall = seconds, sampling_seconds_cpu_chains = cpu,
                 divergences = sum(get_divergent_iterations(fit)),
                 max_rhat = max(mon[, "Rhat"]), min_bulk_ess = min(mon[, "Bulk_ESS"]),
                 parameters = params)
  write_json(result, file.path(dir, paste0(name, ".json")), auto_unbox = TRUE, digits = NA,
             pretty = TRUE)
  cat(sprintf("%s: %.1f s wall, %.1f s in chains, %d divergences, min bulk ESS %.0f, max R-hat %.4f\n",
              name, seconds, cpu, result$divergences, result$min_bulk_ess, result$max_rhat))
}

# ---- NES with a random walk over years -------------------------------------------------
d <- cells(c("state", "year", "income"))
years <- sort(unique(d$year))
gaps <- diff(years) / median(diff(years))
Jt <- length(years)
D <- matrix(0, Jt - 1, Jt)
for (i in seq_len(Jt - 1)) { D[i, i] <- -1; D[i, i + 1] <- 1 }
Qt <- t(D) %*% diag(1 / gaps, nrow = Jt - 1) %*% D
states <- sort(unique(as.character(d$state)))          # as fastgibbs sorts labels
run("nes_rw1", d, cbind(1, d$income), c("Intercept", "income"), match(d$year, years), Qt,
    years, "1|year", g = match(as.character(d$state), states), g_names = states,
    g_term = "1|state")

# ---- NES by state with an ICAR over the contiguous states --------------------------------
code <- c(setNames(adj$state_a, adj$icpsr_a), setNames(adj$state_b, adj$icpsr_b))
code <- code[!duplicated(names(code))]
nes <- nes[as.character(nes$state) %in% names(code), ]     # drops Hawaii (ICPSR 82)
nes$state <- unname(code[as.character(nes$state)])
d <- cells(c("state", "income"))
areas <- sort(unique(c(adj$state_a, adj$state_b)))
A <- matrix(0, length(areas), length(areas))
A[cbind(match(adj$state_a, areas), match(adj$state_b, areas))] <- 1
A[cbind(match(adj$state_b, areas), match(adj$state_a, areas))] <- 1
L <- diag(rowSums(A)) - A
Qa <- exp(mean(log(diag(ginv(L))))) * L
run("nes_icar", d, cbind(1, d$income), c("Intercept", "income"), match(d$state, areas), Qa,
    areas, "1|state")
