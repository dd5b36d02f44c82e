//! Auditing a classifier's predictions: fairness by group, mitigation, confidence intervals.
