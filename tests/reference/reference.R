# Reference values for analytics/stats: the same statistics computed by R (survival, stats).
# Usage: Rscript tests/reference/reference.R [output.json]   (default: expected.json beside this file)
# The JSON keys and shapes mirror the Python functions' return values; NA is written as null.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- dirname(normalizePath(script))
trailing <- commandArgs(trailingOnly = TRUE)
out <- if (length(trailing) >= 1) trailing[1] else file.path(here, "expected.json")

rd <- function(name) read.csv(file.path(here, name), stringsAsFactors = FALSE)
num <- function(x) if (length(x) == 0 || is.na(x)) NA else unname(as.numeric(x))
LANDMARKS <- c(182.6, 365.25)

km_summary <- function(time, event) {
  fit <- survfit(Surv(time, event) ~ 1, conf.type = "log-log")
  q <- quantile(fit, probs = 0.5)
  s <- summary(fit, times = LANDMARKS, extend = TRUE)
  at <- lapply(seq_along(LANDMARKS), function(i) {
    beyond <- LANDMARKS[i] > max(time)
    list(days = LANDMARKS[i],
         surv = if (beyond) NA else num(s$surv[i]),
         lower = if (beyond) NA else num(s$lower[i]),
         upper = if (beyond) NA else num(s$upper[i]),
         n_risk = as.integer(s$n.risk[i]))
  })
  list(n = length(time), events = as.integer(sum(event)), median = num(q$quantile),
       median_lower = num(q$lower), median_upper = num(q$upper), at = at)
}

cox_pair <- function(time, event, group) {
  fit <- coxph(Surv(time, event) ~ group, ties = "efron")
  b <- unname(coef(fit))
  se <- sqrt(fit$var[1, 1])
  z <- qnorm(0.975)
  list(hr = exp(b), lower = exp(b - z * se), upper = exp(b + z * se),
       p = 2 * pnorm(-abs(b / se)))
}

ph_test <- function(time, event, group) {
  fit <- coxph(Surv(time, event) ~ group, ties = "efron")
  zph <- cox.zph(fit, transform = "km")
  list(chisq = unname(zph$table["group", "chisq"]), p = unname(zph$table["group", "p"]))
}

logrank <- function(time, event, group) {
  sd <- survdiff(Surv(time, event) ~ factor(group))
  df <- sum(sd$exp > 0) - 1
  list(chisq = unname(sd$chisq), p = pchisq(sd$chisq, df, lower.tail = FALSE))
}

fisher <- function(m) {
  m <- m[rowSums(m) > 0, colSums(m) > 0, drop = FALSE]
  if (nrow(m) < 2 || ncol(m) < 2) return(list(method = "fisher", p = NA))
  if ((nrow(m) == 2 && ncol(m) == 2) || sum(m) <= 200) {
    list(method = "fisher", p = fisher.test(m)$p.value)
  } else {
    list(method = "chisq", p = unname(chisq.test(m, correct = FALSE)$p.value))
  }
}

binomial_rate <- function(k, n) {
  ci <- binom.test(k, n)$conf.int
  list(rate = k / n, lower = ci[1], upper = ci[2])
}

logistic_or <- function(x, y) {
  fit <- glm(y ~ x, family = binomial)
  b <- unname(coef(fit)[2])
  ci <- confint.default(fit)[2, ]
  list(or = exp(b), lower = unname(exp(ci[1])), upper = unname(exp(ci[2])),
       p = unname(summary(fit)$coefficients[2, 4]))
}

trend_test <- function(score, mf) {
  chisq <- (length(score) - 1) * cor(score, mf)^2
  list(chisq = chisq, p = pchisq(chisq, 1, lower.tail = FALSE))
}

rank_sum <- function(a, b) {
  w <- wilcox.test(a, b)
  exact <- length(a) < 50 && length(b) < 50 && !any(duplicated(c(a, b)))
  list(w = unname(w$statistic), p = w$p.value, method = if (exact) "exact" else "normal")
}

kruskal <- function(groups) {
  k <- kruskal.test(groups)
  list(chisq = unname(k$statistic), df = unname(k$parameter), p = k$p.value)
}

res <- list(km = list(), cox = list(), ph_test = list(), logrank = list(), fisher = list(),
            binomial = list(), logistic = list(), trend = list(), rank_sum = list(), kruskal = list())

surv <- rd("survival.csv")
for (ds in unique(surv$dataset)) {
  d <- surv[surv$dataset == ds, ]
  res$km[[ds]] <- km_summary(d$time, d$event)
  for (g in sort(unique(d$group))) {
    if (length(unique(d$group)) > 1) {
      dg <- d[d$group == g, ]
      res$km[[paste0(ds, ":", g)]] <- km_summary(dg$time, dg$event)
    }
  }
  if (length(unique(d$group)) > 1) res$logrank[[ds]] <- logrank(d$time, d$event, d$group)
  if (length(unique(d$group)) == 2) {
    res$cox[[ds]] <- cox_pair(d$time, d$event, d$group)
    res$ph_test[[ds]] <- ph_test(d$time, d$event, d$group)
  }
}
# Pairwise models inside the three-group data as well (group 2 vs group 0).
d <- surv[surv$dataset == "threegroup" & surv$group %in% c(0, 2), ]
res$cox[["threegroup:2v0"]] <- cox_pair(d$time, d$event, as.integer(d$group == 2))
res$ph_test[["threegroup:2v0"]] <- ph_test(d$time, d$event, as.integer(d$group == 2))

tabs <- rd("tables.csv")
for (nm in unique(tabs$name)) {
  t <- tabs[tabs$name == nm, ]
  m <- matrix(0, max(t$row), max(t$col))
  m[cbind(t$row, t$col)] <- t$count
  res$fisher[[nm]] <- fisher(m)
}

bin <- rd("binomial.csv")
for (i in seq_len(nrow(bin))) res$binomial[[bin$name[i]]] <- binomial_rate(bin$k[i], bin$n[i])

lg <- rd("logistic.csv")
for (nm in unique(lg$name)) {
  d <- lg[lg$name == nm, ]
  res$logistic[[nm]] <- logistic_or(d$x, d$y)
}

tr <- rd("trend.csv")
for (nm in unique(tr$name)) {
  d <- tr[tr$name == nm, ]
  res$trend[[nm]] <- trend_test(d$score, d$mf)
}

rk <- rd("ranks.csv")
for (nm in unique(rk$name)) {
  d <- rk[rk$name == nm, ]
  gs <- split(d$value, d$group)
  if (length(gs) == 2) res$rank_sum[[nm]] <- rank_sum(gs[[1]], gs[[2]])
  res$kruskal[[nm]] <- kruskal(unname(gs))
}

writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = TRUE), out)
