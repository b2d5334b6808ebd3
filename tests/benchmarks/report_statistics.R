# The report's statistics on an exported analysis dataset, in R (survival, stats), for the recompute benchmark.
# Usage: Rscript tests/benchmarks/report_statistics.R analysis.csv [output.json]
# Same sections as the report JSON: MF rates (binom.test), Fisher product/era, KM per cohort (log-log CI,
# landmarks, median), log-rank, pairwise Cox (Efron) with cox.zph (transform "km"), Table 1 logistic ORs,
# the linear-by-linear trend and the contingency tables. Prints the seconds taken (excluding the CSV read).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE, na.strings = "")
out <- if (length(args) >= 2) args[2] else NA
started <- proc.time()[["elapsed"]]
LANDMARKS <- c(182.6, 365.25)
res <- list(n_cases = nrow(d))

res$mf_rates <- lapply(c(split(d$mf, d$product), split(d$mf, paste0("era:", d$era)), list(all = d$mf)), function(m) {
  b <- binom.test(sum(m), length(m))
  list(cases = length(m), mf = sum(m), rate = sum(m) / length(m), lower = b$conf.int[1], upper = b$conf.int[2])
})
res$mf_rate_tests <- list(product = fisher.test(table(d$product, d$mf))$p.value,
                          era = fisher.test(table(d$era, d$mf))$p.value)

km <- function(t, e) {
  if (length(t) == 0) return(NULL)
  fit <- survfit(Surv(t, e) ~ 1, conf.type = "log-log")
  s <- summary(fit, times = LANDMARKS, extend = TRUE)
  q <- quantile(fit, probs = 0.5)
  list(n = length(t), events = sum(e), median = unname(q$quantile), surv = s$surv, lower = s$lower, upper = s$upper)
}
os_cohorts <- c("oos_infused", "delayed_infused", "mf_not_infused", "control")
pfs_cohorts <- c("oos_infused", "delayed_infused", "control")
os <- d[d$cohort %in% os_cohorts, ]
pfs <- d[d$cohort %in% pfs_cohorts & d$infused == 1 & !is.na(d$pfs_days), ]
res$km <- list(
  os = lapply(split(os, os$cohort), function(x) km(x$os_days, x$os_event)),
  pfs = lapply(split(pfs, pfs$cohort), function(x) km(x$pfs_days, x$pfs_event)))
res$logrank <- list(os = survdiff(Surv(os_days, os_event) ~ cohort, data = os)$chisq,
                    pfs = survdiff(Surv(pfs_days, pfs_event) ~ cohort, data = pfs)$chisq)
pair <- function(data, time, event, cohort, reference) {
  x <- data[data$cohort %in% c(cohort, reference), ]
  g <- as.numeric(x$cohort == cohort)
  fit <- coxph(Surv(x[[time]], x[[event]]) ~ g, ties = "efron")
  zph <- cox.zph(fit, transform = "km")
  se <- sqrt(fit$var[1, 1])
  list(hr = exp(coef(fit)[[1]]), se = se, p = 2 * pnorm(-abs(coef(fit)[[1]] / se)), zph_p = zph$table["g", "p"])
}
res$cox <- list(
  os = lapply(c("oos_infused", "delayed_infused", "mf_not_infused"), function(k) pair(os, "os_days", "os_event", k, "control")),
  os_oos_delayed = pair(os, "os_days", "os_event", "oos_infused", "delayed_infused"),
  pfs = lapply(c("oos_infused", "delayed_infused"), function(k) pair(pfs, "pfs_days", "pfs_event", k, "control")),
  pfs_oos_delayed = pair(pfs, "pfs_days", "pfs_event", "oos_infused", "delayed_infused"))

mfc <- d[d$mf == 1 | d$cohort == "control", ]
or_row <- function(x) {
  keep <- !is.na(x)
  fit <- glm(mfc$mf[keep] ~ x[keep], family = binomial)
  ci <- confint.default(fit)
  list(or = exp(coef(fit)[[2]]), lower = exp(ci[2, 1]), upper = exp(ci[2, 2]),
       p = summary(fit)$coefficients[2, 4])
}
res$table1 <- list(
  prior_bendamustine = or_row(ifelse(is.na(mfc$prior_bendamustine), NA, as.numeric(mfc$prior_bendamustine != "none"))),
  sex = or_row(ifelse(is.na(mfc$sex), NA, as.numeric(mfc$sex == "F"))),
  comorbidity = or_row(mfc$comorbidity), prior_lines_3plus = or_row(mfc$prior_lines_3plus),
  holding_therapy = or_row(mfc$holding_therapy), ecog = or_row(ifelse(is.na(mfc$ecog), NA, as.numeric(mfc$ecog >= 1))))
b <- mfc[mfc$prior_bendamustine %in% c("none", ">6m", "<6m", "<3m"), ]
score <- match(b$prior_bendamustine, c("none", ">6m", "<6m", "<3m"))
chisq <- (nrow(b) - 1) * cor(score, b$mf)^2
res$trend <- list(chisq = chisq, p = pchisq(chisq, 1, lower.tail = FALSE))
tab_test <- function(m) {
  m <- m[rowSums(m) > 0, colSums(m) > 0, drop = FALSE]
  if (nrow(m) < 2 || ncol(m) < 2) return(NA)
  if ((nrow(m) == 2 && ncol(m) == 2) || sum(m) <= 200) fisher.test(m)$p.value
  else chisq.test(m, correct = FALSE)$p.value
}
inf <- d[d$infused == 1 & d$cohort %in% pfs_cohorts, ]
oc <- inf[inf$cohort %in% c("oos_infused", "control"), ]
res$fisher <- list(
  transplant_by_mf = tab_test(table(mfc$mf, factor(mfc$transplant, levels = c("none", "auto", "allo")))),
  response = tab_test(table(inf$cohort, factor(inf$response, levels = c("CR", "PR", "SD", "PD")))),
  crs_any = tab_test(table(oc$cohort, oc$crs_grade >= 1)), crs3 = tab_test(table(oc$cohort, oc$crs_grade >= 3)),
  icans_any = tab_test(table(oc$cohort, oc$icans_grade >= 1)))
elapsed <- proc.time()[["elapsed"]] - started
if (!is.na(out)) write(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null"), out)
cat(sprintf("R_SECONDS %.3f\n", elapsed))
