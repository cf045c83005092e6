# Golden model designs from lme4, for tests/test_design_golden.py.
#
# Run from the repository root:  Rscript tests/data/make_lme4_golden.R
#
# Each case is an lmer/glmer formula from lme4's own tests, help pages or vignettes
# (source file and line in lme4's repository at commit 32b5bfdc7cc5 are recorded),
# on data available in R (lme4, mlmRev, nlme, MASS, Matrix, datasets) or built as the
# lme4 test builds it. For each case lFormula/glFormula writes, into
# tests/data/lme4_golden/:
#   cases.json            formula, source, data, family, row count, fixed-effect column
#                         names, columns dropped as aliased, random-effect terms
#                         (factor, columns, number of levels)
#   <case>_X.csv.gz       getME-equivalent X (lFormula(...)$X)
#   <case>_Z.csv.gz       non-zero entries of Zt: term index, factor, level, column, row, value
#   <case>_y.csv.gz       response (successes and trials for cbind responses; 0/1 for a
#                         factor response, its second level the event) and offset
# and, once per data set, data/<name>.csv.gz with data/<name>.json (column types and
# factor levels, so that Python rebuilds the same factors). Numbers are written with
# 17 significant digits.
suppressMessages({
  library(lme4)
  library(jsonlite)
  library(splines)
})
out <- "tests/data/lme4_golden"
dir.create(file.path(out, "data"), recursive = TRUE, showWarnings = FALSE)
unlink(list.files(out, pattern = "\\.(csv|csv\\.gz)$", full.names = TRUE))

# ---- data sets ----------------------------------------------------------------------
data(Orthodont, package = "nlme")
data(Pixel, package = "nlme")
data(Early, package = "mlmRev")
data(Contraception, package = "mlmRev")
data(Chem97, package = "mlmRev")
data(guImmun, package = "mlmRev")
data(bacteria, package = "MASS")
data(iris, package = "datasets")
load(system.file("external/test3comp.rda", package = "Matrix"))

plain <- function(d) {
  # keep the columns (and their classes) of a data.frame; drop nlme's groupedData class
  d <- as.data.frame(d)
  class(d) <- "data.frame"
  d
}

D <- list()
D$sleepstudy <- sleepstudy
D$sleep2 <- transform(sleepstudy, Days2 = Days)                         # man/fixef.Rd:35
D$sleep_subset <- subset(sleepstudy, Days >= 2)                         # man/sleepstudy.Rd:35
D$Dyestuff <- Dyestuff
D$Dyestuff2 <- Dyestuff2
D$Pastes <- Pastes
D$Penicillin <- Penicillin
D$cake <- cake
D$cbpp <- transform(cbpp, obs = seq_len(nrow(cbpp)))                    # man/glmer.Rd:168
D$cbpp_silly <- cbpp
D$cbpp_silly$`silly period` <- cbpp$period                              # test-predict.R:363
D$Orthodont <- within(plain(Orthodont), {                               # man/lmer.Rd:246-247
  nsex <- as.numeric(Sex == "Male")
  nsexage <- nsex * age
})
D$Pixel <- plain(Pixel)
D$Early <- transform(Early, tos = age - 0.5)                            # lmer-conv.R:12
D$Contraception <- transform(Contraception,                             # glmer.Rnw:1322
                             ch = factor(livch != 0, labels = c("N", "Y")),
                             age_s = age / (2 * sd(age)))
D$VerbAgg <- VerbAgg
D$grouseticks <- grouseticks
D$iris <- iris
D$test3comp <- test3comp
D$guImmun <- guImmun
D$bacteria <- within(bacteria, wk2 <- week > 2)                         # glmer-1.R:138
contrasts(D$bacteria$trt) <- structure(MASS::contr.sdif(3),
                                       dimnames = list(NULL, c("diag", "encourage")))
set.seed(101)                                                           # subsamples: small files
D$InstEval <- droplevels(InstEval[sort(sample(nrow(InstEval), 3000)), ])
D$Chem97 <- droplevels(Chem97[Chem97$lea %in% levels(Chem97$lea)[1:20], ])
D$sleep_rt <- sleepstudy
names(D$sleep_rt)[1] <- "Reaction Time"                                 # test-methods.R:840

# data built by lme4's tests, with their seeds
D$animal <- expand.grid(y = 1:3, "Animal ID" = 1:9)                    # predict.merMod.Rd:75
set.seed(1)                                                             # lmer-1.R:170-175
D$lagoon <- within(data.frame(lagoon = factor(rep(1:4, each = 25)),
                              habitat = factor(rep(1:20, each = 5))),
                   { y <- round(10 * rnorm(100, m = 10 * as.numeric(lagoon))) })
suppressWarnings(RNGkind("Mersenne-Twister", "Inversion", "Rounding"))  # test-lmer.R:8-10
set.seed(101)                                                           # test-lmer.R:15-17
D$zf <- data.frame(z = rnorm(200), f = factor(sample(1:10, 200, replace = TRUE)))
set.seed(101)                                                           # test-lmer.R:285-289
D$mix <- data.frame(resp = runif(100),
                    var1 = factor(sample(1:5, size = 100, replace = TRUE)),
                    var2 = runif(100),
                    var3 = factor(sample(1:5, size = 100, replace = TRUE)))
RNGkind("default", "default", "default")
simfun <- function(J, n_j, g00, g10, g01, g11, sig2_0, sig01, sig2_1) { # test-methods.R:349
  N <- sum(rep(n_j, J))
  x <- rnorm(N)
  z <- rnorm(J)
  mu <- c(0, 0)
  sig <- matrix(c(sig2_0, sig01, sig01, sig2_1), ncol = 2)
  u <- MASS::mvrnorm(J, mu = mu, Sigma = sig)
  b_0j <- g00 + g01 * z + u[, 1]
  b_1j <- g10 + g11 * z + u[, 2]
  y <- rep(b_0j, each = n_j) + rep(b_1j, each = n_j) * x + rnorm(N, 0, sqrt(0.5))
  data.frame(Y = y, X = x, Z = rep(z, each = n_j), group = rep(1:J, each = n_j))
}
set.seed(102)                                                           # test-methods.R:365
D$simXZ <- simfun(10, 5, 1, .3, .3, .3, (1 / 18), 0, (1 / 18))
set.seed(1)                                                             # test-methods.R:497-499
D$noise <- sleepstudy
D$noise$noiseChar <- ifelse(runif(nrow(sleepstudy)) > 0.8, "Yes", "No")
set.seed(101)                                                           # test-predict.R:230-236
D$fgh <- data.frame(x = 1:200, f = factor(rep(1:10, 20)), g = factor(rep(1:20, each = 10)),
                    h = factor(rep(1:5, 40)), y = rnorm(200))
set.seed(101)                                                           # test-predict.R:411-418
mydata <- data.frame(groups = rep(1:3, each = 100), x = rnorm(300), dv = rnorm(300))
D$train <- mydata[sample(1:300, 300 * .8), ]

# ---- cases --------------------------------------------------------------------------
# id, formula, data, family, source (lme4 repository, commit 32b5bfdc7cc5)
C <- function(id, formula, data, source, family = "gaussian", offset = NULL)
  list(id = id, formula = formula, data = data, source = source, family = family,
       offset = offset)
cases <- list(
  C("dyestuff_bare_bar", "Yield ~ 1|Batch", "Dyestuff", "man/Dyestuff.Rd:92"),
  C("dyestuff2_bare_bar", "Yield ~ 1|Batch", "Dyestuff2", "man/Dyestuff.Rd:93"),
  C("pastes_crossed", "strength ~ (1|batch) + (1|sample)", "Pastes", "man/Pastes.Rd:53"),
  C("pastes_nested", "strength ~ (1|batch/cask)", "Pastes", "man/Pastes.Rd:54"),
  C("pastes_interaction", "strength ~ (1|batch) + (1|batch:cask)", "Pastes", "man/Pastes.Rd:55"),
  C("pastes_nested_sample", "strength ~ (1|batch/sample)", "Pastes", "man/Pastes.Rd:56"),
  C("pastes_cask", "strength ~ (1|batch) + (1|cask)", "Pastes", "man/Pastes.Rd:62"),
  C("penicillin", "diameter ~ (1|plate) + (1|sample)", "Penicillin", "man/Penicillin.Rd:49"),
  C("penicillin_duplicate", "diameter ~ (1|plate) + (1|plate) + (1|sample)", "Penicillin",
    "tests/testthat/test-methods.R:570"),
  C("orthodont_slope", "distance ~ age + (age|Subject)", "Orthodont", "man/VarCorr.Rd:93"),
  C("orthodont_dummies",
    "distance ~ age + (age|Subject) + (0+nsex|Subject) + (0 + nsexage|Subject)",
    "Orthodont", "man/lmer.Rd:249"),
  C("orthodont_dummy_fn", "distance ~ age + (age|Subject) + (0+dummy(Sex, \"Female\")|Subject)",
    "Orthodont", "man/dummy.Rd:27"),
  C("orthodont_centred", "distance ~ I(age - 11) + (I(age - 11) | Subject)", "Orthodont",
    "tests/testthat/test-methods.R:393"),
  C("orthodont_sex_block", "distance ~ age + (age|Subject) + (0 + Sex |Subject)", "Orthodont",
    "tests/testthat/test-methods.R:487"),
  C("orthodont_nsex_block", "distance ~ age + (age|Subject) + (0 + nsex|Subject)", "Orthodont",
    "tests/testthat/test-methods.R:491"),
  C("verbagg_power", "r2 ~ (Anger + Gender + btype + situ)^2 + (1|id) + (1|item)", "VerbAgg",
    "man/VerbAgg.Rd:52", "binomial"),
  C("cbpp_cbind", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
    "man/cbpp.Rd:66", "binomial"),
  C("cbpp_obs", "cbind(incidence, size - incidence) ~ period + (1 | herd) +  (1|obs)", "cbpp",
    "man/glmer.Rd:169", "binomial"),
  C("cbpp_silly_name", "cbind(incidence,size-incidence) ~ `silly period` + (1|herd)",
    "cbpp_silly", "tests/testthat/test-predict.R:364", "binomial"),
  C("cake_ordered_interaction", "angle ~ recipe * temperature + (1|recipe:replicate)", "cake",
    "man/cake.Rd:45"),
  C("cake_ordered", "angle ~ recipe + temperature + (1|recipe:replicate)", "cake",
    "man/cake.Rd:46"),
  C("cake_numeric", "angle ~ recipe + temp        + (1|recipe:replicate)", "cake",
    "man/cake.Rd:47"),
  C("cake_replicate", "angle ~ temp + recipe + (1 | replicate)", "cake",
    "tests/testthat/test-predict.R:27"),
  C("sleep_two_bars", "Reaction ~ Days + (1|Subject) + (0+Days|Subject)", "sleepstudy",
    "man/fixef.Rd:33"),
  C("sleep_aliased", "Reaction ~ Days + Days2 + (1|Subject)", "sleep2", "man/fixef.Rd:34"),
  C("sleep_subset", "Reaction ~ Days + (1|Subject) + (0+Days|Subject)", "sleep_subset",
    "man/sleepstudy.Rd:35"),
  C("sleep_correlated", "Reaction ~ Days + (Days|Subject)", "sleepstudy", "man/lmer.Rd:226"),
  C("sleep_double_bar", "Reaction ~ Days + (Days || Subject)", "sleepstudy", "man/lmer.Rd:237"),
  C("sleep_log", "log(Reaction) ~ log(Days+1) + (log(Days+1)|Subject)", "sleepstudy",
    "tests/lmer-1.R:118"),
  C("sleep_log1p", "Reaction ~ log(1+Days) + (1 | Subject)", "sleepstudy",
    "tests/testthat/test-methods.R:850"),
  C("sleep_backtick_response", "`Reaction Time` ~ Days + (1 | Subject)", "sleep_rt",
    "tests/testthat/test-methods.R:848"),
  C("sleep_ns", "Reaction ~ ns(Days,2) + (1|Subject)", "sleepstudy", "tests/predict_basis.R:19"),
  C("sleep_poly", "Reaction ~ poly(Days,2) + (1|Subject)", "sleepstudy",
    "tests/predict_basis.R:20"),
  C("sleep_poly_raw", "Reaction ~ poly(Days,2,raw=TRUE) + (1|Subject)", "sleepstudy",
    "tests/predict_basis.R:21"),
  C("sleep_poly_varying", "Reaction~Days+(poly(Days,2)|Subject)", "sleepstudy",
    "tests/testthat/test-methods.R:508"),
  C("sleep_quadratic_varying", "Reaction ~ (Days + I(Days^2) | Subject)", "sleepstudy",
    "vignettes/lmer.Rnw:833"),
  C("sleep_noise_text", "Reaction ~ Days + noiseChar + (Days | Subject)", "noise",
    "tests/testthat/test-methods.R:500"),
  C("sleep_numeric_groups", "Reaction ~ 1 + (1|Days)", "sleepstudy",
    "tests/testthat/test-lmer.R:405"),
  C("sleep_offset", "Reaction ~ Days + offset(Days) + (1|Subject)", "sleepstudy",
    "tests/testthat/test-methods.R:664"),
  C("animal_id_backticks", "y ~ 1 + (1 | `Animal ID`)", "animal", "man/predict.merMod.Rd:76"),
  C("habitat_no_intercept", "y ~ 0+habitat + (1|habitat:lagoon)", "lagoon", "tests/lmer-1.R:190"),
  C("lagoon_no_intercept", "y ~ 0+lagoon + (1|habitat)", "lagoon", "tests/lmer-1.R:200"),
  C("early_time_on_study", "cog ~ tos + trt:tos + (tos|id)", "Early", "tests/lmer-conv.R:13"),
  C("test3comp_nested", "Y3 ~ (1|Sample) + (1|Operator/Run)", "test3comp", "tests/lmer-conv.R:9"),
  C("zf_bare_bar_as_numeric", "z~ as.numeric(f) + 1|f", "zf", "tests/testthat/test-lmer.R:229"),
  C("mix_no_intercept", "resp ~ 0 + var1 + var1:var2 + (1|var3)", "mix",
    "tests/testthat/test-lmer.R:292"),
  C("pixel_nested", "pixel ~ day + I(day^2) + (day | Dog) + (1 | Side/Dog)", "Pixel",
    "tests/testthat/test-methods.R:48"),
  C("sim_double_bar", "Y~X+Z+X:Z+(X||group)", "simXZ", "tests/testthat/test-methods.R:366"),
  C("fgh_poly_nested", "y~1 + f + (1|h/f) + (poly(x,2)|g)", "fgh",
    "tests/testthat/test-predict.R:238"),
  C("train_dot", "dv ~ . - groups + (1 | groups)", "train", "tests/testthat/test-predict.R:420"),
  C("iris_dotted_names", "Petal.Width ~ Sepal.Length + (1 | Species)", "iris",
    "tests/testthat/test-predict.R:443"),
  C("bacteria_contrasts", "y ~ trt + wk2 + (1|ID)", "bacteria", "tests/glmer-1.R:143",
    "binomial"),
  C("contraception_slope", "use ~ urban+age+livch + (urban|district)", "Contraception",
    "tests/profile-tst.R:126", "binomial"),
  C("contraception_power", "use ~ age_s + I(age_s^2) + urban + livch + (1|district)",
    "Contraception", "vignettes/glmer.Rnw:1368", "binomial"),
  C("guimmun_nested", paste("immun ~ kid2p+mom25p+ord+ethn+momEd+husEd+momWork+rural+pcInd81+",
                            "(1|comm/mom)"), "guImmun", "tests/simulate.R:80", "binomial"),
  C("grouse_scale", "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
    "grouseticks", "tests/refit.R:165", "poisson"),
  C("insteval_ordered", "y ~ service * dept + studage + lectage + (1|s) + (1|d)", "InstEval",
    "tests/vcov-etc.R:68"),
  C("chem97_nested", "score ~ (1|lea/school)", "Chem97", "tests/priorWeights.R:111")
)

# ---- export -------------------------------------------------------------------------
num <- function(x) format(x, digits = 17, scientific = FALSE, trim = TRUE)

column_type <- function(x) {
  if (is.ordered(x)) return(list(type = "ordered", levels = levels(x)))
  if (is.factor(x)) return(list(type = "factor", levels = levels(x)))
  if (is.logical(x)) return(list(type = "logical"))
  if (is.character(x)) return(list(type = "character"))
  if (is.integer(x)) return(list(type = "integer"))
  list(type = "numeric")
}

write_gz <- function(frame, path) {
  con <- gzfile(path, "w")
  write.csv(frame, con, row.names = FALSE, na = "")
  close(con)
}

export_data <- function(name) {
  d <- D[[name]]
  types <- lapply(d, column_type)
  frame <- as.data.frame(lapply(d, function(x)
    if (is.numeric(x) && !is.integer(x)) num(x) else as.character(x)),
    check.names = FALSE, stringsAsFactors = FALSE)
  write_gz(frame, file.path(out, "data", paste0(name, ".csv.gz")))
  writeLines(toJSON(list(columns = names(d), types = types), auto_unbox = TRUE, pretty = TRUE),
             file.path(out, "data", paste0(name, ".json")))
}

response_frame <- function(fr, family) {
  y <- model.response(fr)
  if (is.matrix(y)) {
    res <- data.frame(y = y[, 1], trials = y[, 1] + y[, 2])
  } else if (is.factor(y)) {
    res <- data.frame(y = as.numeric(y != levels(y)[1]))
  } else if (is.logical(y)) {
    res <- data.frame(y = as.numeric(y))
  } else {
    res <- data.frame(y = num(y))
  }
  off <- model.offset(fr)
  if (!is.null(off)) res$offset <- num(off)
  res
}

control_l <- lmerControl(check.nobs.vs.nRE = "ignore", check.nobs.vs.nlev = "ignore",
                         check.nlev.gtr.1 = "ignore")
control_g <- glmerControl(check.nobs.vs.nRE = "ignore", check.nobs.vs.nlev = "ignore",
                          check.nlev.gtr.1 = "ignore")
manifest <- list()
for (case in cases) {
  d <- D[[case$data]]
  f <- as.formula(case$formula, env = globalenv())
  parsed <- tryCatch(suppressMessages(suppressWarnings(
    if (case$family == "gaussian") lFormula(f, data = d, control = control_l)
    else glFormula(f, data = d, family = case$family, control = control_g))),
    error = function(e) e)
  entry <- list(id = case$id, formula = case$formula, data = case$data, source = case$source,
                family = case$family)
  if (inherits(parsed, "error")) {
    entry$lme4_error <- conditionMessage(parsed)
    manifest[[case$id]] <- entry
    next
  }
  X <- parsed$X
  write_gz(as.data.frame(apply(X, 2, num), check.names = FALSE) |>
             setNames(colnames(X)), file.path(out, paste0(case$id, "_X.csv.gz")))
  re <- parsed$reTrms
  Zt <- as(re$Zt, "TsparseMatrix")
  # one row of Zt per (term, level, column), terms in re$cnms order
  term_of <- integer(0); factor_of <- character(0); level_of <- character(0)
  column_of <- character(0)
  for (k in seq_along(re$cnms)) {
    fac <- names(re$cnms)[k]
    cn <- re$cnms[[k]]
    lv <- levels(re$flist[[attr(re$flist, "assign")[k]]])
    term_of <- c(term_of, rep(k, length(lv) * length(cn)))
    factor_of <- c(factor_of, rep(fac, length(lv) * length(cn)))
    level_of <- c(level_of, rep(lv, each = length(cn)))
    column_of <- c(column_of, rep(cn, times = length(lv)))
  }
  z <- data.frame(term = term_of[Zt@i + 1], factor = factor_of[Zt@i + 1],
                  level = level_of[Zt@i + 1], column = column_of[Zt@i + 1],
                  row = Zt@j + 1, value = num(Zt@x))
  write_gz(z, file.path(out, paste0(case$id, "_Z.csv.gz")))
  write_gz(response_frame(parsed$fr, case$family), file.path(out, paste0(case$id, "_y.csv.gz")))
  entry$n_obs <- nrow(X)
  entry$fixed <- colnames(X)
  entry$dropped <- as.list(names(attr(X, "col.dropped")))
  entry$terms <- lapply(seq_along(re$cnms), function(k)
    list(factor = names(re$cnms)[k], columns = as.list(re$cnms[[k]]),
         n_levels = length(levels(re$flist[[attr(re$flist, "assign")[k]]]))))
  entry$has_offset <- !is.null(model.offset(parsed$fr))
  manifest[[case$id]] <- entry
}
for (name in unique(vapply(cases, function(x) x$data, ""))) export_data(name)

# lme4's estimates for fits compared in the test suite (REML, lme4's defaults)
fits <- list()
for (id in c("orthodont_nsex_block", "orthodont_sex_block")) {
  case <- Filter(function(x) x$id == id, cases)[[1]]
  m <- suppressMessages(suppressWarnings(lmer(as.formula(case$formula), D[[case$data]])))
  vc <- as.data.frame(VarCorr(m))
  fits[[id]] <- list(fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
                     sigma = sigma(m),
                     sd = setNames(as.list(vc$sdcor[is.na(vc$var2)]),
                                   paste(vc$grp, vc$var1, sep = "|")[is.na(vc$var2)]))
}
writeLines(toJSON(fits, auto_unbox = TRUE, pretty = TRUE, digits = NA),
           file.path(out, "lme4_fits.json"))
writeLines(toJSON(unname(manifest), auto_unbox = TRUE, pretty = TRUE, digits = NA),
           file.path(out, "cases.json"))
writeLines(c(paste("lme4", as.character(packageVersion("lme4"))),
             paste("mlmRev", as.character(packageVersion("mlmRev"))),
             paste("nlme", as.character(packageVersion("nlme"))),
             paste("MASS", as.character(packageVersion("MASS"))),
             paste("Matrix", as.character(packageVersion("Matrix"))),
             R.version.string, "formulas from lme4/lme4 at commit 32b5bfdc7cc5",
             format(Sys.Date())), file.path(out, "VERSIONS.txt"))
