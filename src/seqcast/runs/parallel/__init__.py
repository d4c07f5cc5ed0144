"""Trainings side by side: the executors (a local process pool, Ray) behind one interface, and the
one fan-out that seeds, backtest folds and sweep cells go through (order, Ctrl-C, SIGTERM, a dying
worker handled the same way everywhere)."""
