"""From a trained network to honest forecasts: fit and evaluation, shrinkage and recursion,
intervals and volatility, metrics, statistical tests, the simple baselines."""
