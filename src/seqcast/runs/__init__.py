"""Saved results and the drivers that make them: the run registry, backtest and sweep records,
network files, the train / seeds / backtest / sweep drivers over the executors, predict-next."""
