"""The tutorial-style PyTorch loop users would otherwise write: the baseline of bench.py.

The classic course job (LSTM(50) -> Dropout(0.2) -> LSTM(50) -> Dropout(0.2) ->
Dense(1), Adam 1e-3, MSE, batch 32) written the way PyTorch tutorials write it:
MinMax scaling fitted on the training part, windows of `lookback` days, a
DataLoader over a TensorDataset, nn.LSTM(num_layers=2, dropout=0.2). No
allocator or thread settings: PyTorch's defaults, as users run it.

    python benchmarks/reference_loop.py --csv closes.csv --json-out out.json

The CSV has a header and two columns, date and close (bench.py exports it).
Prints (and writes) JSON: fit seconds, windows, test RMSE and the naive RMSE.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class StackedLSTM(nn.Module):
    """LSTM(h) -> Dropout -> LSTM(h) -> Dropout -> Dense(1), read at the last step."""

    def __init__(self, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, layers, batch_first=True, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (batch, lookback, hidden)
        return self.fc(self.dropout(out[:, -1])).squeeze(-1)  # (batch,)


def read_closes(path: str) -> np.ndarray:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    return np.array([float(r[1]) for r in rows], dtype=np.float64)


def main() -> None:
    p = argparse.ArgumentParser(description="The tutorial-style PyTorch LSTM loop (bench.py's baseline).")
    p.add_argument("--csv", required=True, help="date,close file")
    p.add_argument("--json-out", help="also write the result here")
    p.add_argument("--lookback", type=int, default=60)
    p.add_argument("--split", type=float, default=0.7)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    values = read_closes(args.csv)
    n = len(values)
    n_train = math.floor(args.split * n)
    low, high = values[:n_train].min(), values[:n_train].max()  # MinMaxScaler fitted on train
    scaled = ((values - low) / (high - low)).astype(np.float32)

    lb = args.lookback
    x_all = np.stack([scaled[t - lb : t] for t in range(lb, n)])[:, :, None]  # (windows, lookback, 1)
    y_all = scaled[lb:]
    n_fit = n_train - lb  # windows whose target lies in the training part
    x_train, y_train = torch.from_numpy(x_all[:n_fit]), torch.from_numpy(y_all[:n_fit])
    x_test = torch.from_numpy(x_all[n_fit:])

    model = StackedLSTM(args.hidden, args.layers, args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True)

    started = time.perf_counter()
    for _epoch in range(args.epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
    fit_seconds = time.perf_counter() - started

    model.eval()
    started = time.perf_counter()
    with torch.no_grad():
        pred = model(x_test).numpy().astype(np.float64)
    predict_seconds = time.perf_counter() - started
    pred = pred * (high - low) + low
    actual = values[n_train:]
    previous = values[n_train - 1 : n - 1]
    rmse = float(np.sqrt(np.mean((pred - actual) ** 2)))
    naive_rmse = float(np.sqrt(np.mean((previous - actual) ** 2)))
    out = {
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "windows": {"train": n_fit, "test": len(x_test)},
        "epochs": args.epochs,
        "test": {"rmse": rmse, "naive_rmse": naive_rmse, "rmse_ratio": rmse / naive_rmse},
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
