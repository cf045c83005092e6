# Run one JAGS model for benchmarks/jags_runner.py (never needed by the tests).
#
#   Rscript run_jags.R <model.bug> <data.json> <monitors> <out.csv> <chains> <warmup> <draws> <seed>
#
# <monitors>: comma-separated node names. Adaptation (the whole warmup, as rjags's
# jags.model(n.adapt) does it) and sampling are timed apart from compilation; the draws
# of every monitored node go to <out.csv> (columns chain, then JAGS's node names), the
# timings to <out.csv>.json.
suppressMessages({library(rjags); library(jsonlite)})
load.module("glm")
args <- commandArgs(trailingOnly = TRUE)
model_file <- args[1]; data_file <- args[2]; monitors <- strsplit(args[3], ",")[[1]]
out <- args[4]; chains <- as.integer(args[5]); warmup <- as.integer(args[6])
draws <- as.integer(args[7]); seed <- as.integer(args[8])
data <- fromJSON(data_file, simplifyVector = TRUE)
for (name in names(data)) if (is.list(data[[name]])) data[[name]] <- do.call(rbind, data[[name]])
inits <- lapply(seq_len(chains), function(i)
  list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = seed * 100 + i))
t0 <- proc.time()[["elapsed"]]
model <- jags.model(model_file, data = data, inits = inits, n.chains = chains, n.adapt = 0,
                    quiet = TRUE)
t1 <- proc.time()[["elapsed"]]
adapt(model, n.iter = warmup, end.adaptation = TRUE)
samples <- coda.samples(model, monitors, n.iter = draws)
t2 <- proc.time()[["elapsed"]]
table <- do.call(rbind, lapply(seq_along(samples), function(i)
  cbind(chain = i, as.matrix(samples[[i]]))))
write.csv(table, out, row.names = FALSE)
writeLines(toJSON(list(compile = t1 - t0, sampling = t2 - t1,
                       version = as.character(packageVersion("rjags")),
                       jags = as.character(jags.version())), auto_unbox = TRUE), paste0(out, ".json"))
