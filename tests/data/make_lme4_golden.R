# Golden design matrices from lme4, for tests/test_design_golden.py.
# Run from the repository root:  Rscript tests/data/make_lme4_golden.R
# Writes tests/data/lme4_golden/<case>_X.csv (lme4's getME(m, "X")) and
# <case>_Z.csv (the non-zero entries of getME(m, "Zt") with the term, the group
# level and the column name of each row of Zt). Data come from the CSVs bundled in
# src/fastgibbs/data, read with the grouping columns as character.
suppressMessages(library(lme4))
out <- "tests/data/lme4_golden"
dir.create(out, showWarnings = FALSE)
data_dir <- "src/fastgibbs/data"

read <- function(name, chr) {
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), colClasses = chr)
  d
}
sleep <- read("sleepstudy", c(Subject = "character"))
cbpp <- read("cbpp", c(herd = "character", period = "character"))
scots <- read("scotssec", c(primary = "character", second = "character"))
hsb <- head(read("hsb82", c(school = "character")), 600)

cases <- list(
  sleep_corr = list(Reaction ~ Days + (Days | Subject), sleep),
  sleep_uncorr = list(Reaction ~ Days + (Days || Subject), sleep),
  cbpp_period = list(incidence ~ period + (1 | herd), cbpp),
  scots_crossed = list(attain ~ verbal + sex + (1 | primary) + (1 | second), scots),
  hsb_nested = list(mAch ~ ses * sector + (1 | school/minrty), hsb)
)

for (name in names(cases)) {
  f <- cases[[name]][[1]]
  d <- cases[[name]][[2]]
  parsed <- lFormula(f, data = d, control = lmerControl(check.nobs.vs.nRE = "ignore",
                                                         check.nobs.vs.nlev = "ignore"))
  X <- parsed$X
  write.csv(X, file.path(out, paste0(name, "_X.csv")), row.names = FALSE)
  Zt <- as(parsed$reTrms$Zt, "TsparseMatrix")
  # row labels of Zt: one per (term, level, column)
  labels <- character(0); terms <- character(0); cols <- character(0)
  fl <- parsed$reTrms$flist
  assign <- attr(fl, "assign")
  for (k in seq_along(parsed$reTrms$cnms)) {
    fac <- names(fl)[assign[k]]
    cn <- parsed$reTrms$cnms[[k]]
    lv <- levels(fl[[assign[k]]])
    labels <- c(labels, rep(lv, each = length(cn)))
    terms <- c(terms, rep(fac, length(lv) * length(cn)))
    cols <- c(cols, rep(cn, times = length(lv)))
  }
  z <- data.frame(factor = terms[Zt@i + 1], level = labels[Zt@i + 1], column = cols[Zt@i + 1],
                  row = Zt@j + 1, value = Zt@x)
  write.csv(z, file.path(out, paste0(name, "_Z.csv")), row.names = FALSE)
}
writeLines(c(paste("lme4", as.character(packageVersion("lme4"))), R.version.string,
             format(Sys.Date())), file.path(out, "VERSIONS.txt"))
