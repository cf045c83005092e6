# Stan reference for fastgibbs's structured group terms (issue 15): a gaussian model
# with a first-order random walk over unequally spaced years and an ICAR over areas,
#   y ~ 1 + x + (1 | year) + (1 | area),  RandomWalk(order=1) on 1|year, ICAR on 1|area.
# Reads tests/data/stan/structured_gaussian.csv and .._edges.csv (written by
# tests/test_structured.py's make_reference_data, committed), builds the structure
# matrices here from their definitions (RW1: D' diag(1 / gap) D with gaps in units of
# the median gap; ICAR: the graph Laplacian times the Sorbye & Rue 2014 factor, the
# geometric mean of diag(ginv(L))), samples benchmarks/stan/structured.stan and writes
# tests/data/stan/structured_gaussian.json (posterior mean, sd, MCSE, bulk ESS, R-hat
# per fastgibbs parameter name).
#
#   Rscript benchmarks/stan/make_structured_references.R     (from the repository root)
#
# R 4.2, rstan 2.21; 4 chains x (1000 warmup + 4000 draws), adapt_delta 0.95.
suppressPackageStartupMessages({library(rstan); library(MASS); library(jsonlite)})
options(mc.cores = 2)
rstan_options(auto_write = TRUE)
if (!file.exists(rstan_options("boost_lib")) && dir.exists("/usr/include/boost"))
  rstan_options(boost_lib = "/usr/include")

dir <- "tests/data/stan"
data <- read.csv(file.path(dir, "structured_gaussian.csv"), stringsAsFactors = FALSE)
edges <- read.csv(file.path(dir, "structured_gaussian_edges.csv"), stringsAsFactors = FALSE)

years <- sort(unique(data$year))
gaps <- diff(years) / median(diff(years))
Jt <- length(years)
D <- matrix(0, Jt - 1, Jt)
for (i in seq_len(Jt - 1)) { D[i, i] <- -1; D[i, i + 1] <- 1 }
Qt <- t(D) %*% diag(1 / gaps) %*% D

areas <- sort(unique(c(edges$from, edges$to)))
stopifnot(all(data$area %in% areas))
Ja <- length(areas)
A <- matrix(0, Ja, Ja)
for (e in seq_len(nrow(edges))) {
  i <- match(edges$from[e], areas); j <- match(edges$to[e], areas)
  A[i, j] <- 1; A[j, i] <- 1
}
L <- diag(rowSums(A)) - A
Qa <- exp(mean(log(diag(ginv(L))))) * L

X <- cbind(1, data$x)
standata <- list(N = nrow(data), P = 2, X = X, y = data$y, Jt = Jt,
                 t = match(data$year, years), Qt = Qt, Ja = Ja, a = match(data$area, areas),
                 Qa = Qa, prior_sd = 5, hc_scale = 1)
model <- stan_model("benchmarks/stan/structured.stan")
t0 <- Sys.time()
fit <- sampling(model, data = standata, chains = 4, iter = 5000, warmup = 1000,
                seed = 20261201, refresh = 0, control = list(adapt_delta = 0.95))
seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
mon <- monitor(as.array(fit), warmup = 0, print = FALSE)
params <- list()
add <- function(stan, ours) {
  params[[ours]] <<- list(mean = mon[stan, "mean"], sd = mon[stan, "sd"],
                          mcse_mean = mon[stan, "se_mean"], ess_bulk = mon[stan, "Bulk_ESS"],
                          rhat = mon[stan, "Rhat"])
}
add("beta[1]", "Intercept"); add("beta[2]", "x"); add("sigma", "sigma")
add("sd_t", "1|year_sigma"); add("sd_a", "1|area_sigma")
for (j in seq_len(Jt)) add(sprintf("ut[%d]", j), sprintf("1|year[%d]", years[j]))
for (j in seq_len(Ja)) add(sprintf("ua[%d]", j), sprintf("1|area[%s]", areas[j]))
result <- list(model = "structured_gaussian", engine = paste("rstan", packageVersion("rstan")),
               chains = 4, warmup = 1000, draws = 4000,
               priors = list(fixed = "Normal(0, 5)", sds = "HalfCauchy(1)"),
               sampling_seconds_wall = seconds,
               divergences = sum(get_divergent_iterations(fit)),
               parameters = params)
write_json(result, file.path(dir, "structured_gaussian.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
cat(sprintf("structured_gaussian: %.1f s, %d divergences, min bulk ESS %.0f\n", seconds,
            result$divergences, min(mon[, "Bulk_ESS"])))
