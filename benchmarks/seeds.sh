#!/bin/bash
# seqcast train --seeds 4: one after another (--workers 1) vs at once (--workers 2), interleaved, 3 repeats
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD/src
CLASSIC="--model lstm --layers 2 --hidden 50 --dropout 0.2 --lookback 60 --split 0.7 --batch-size 32 --epochs 25 --lr 1e-3 --patience 0 --target level --val-fraction 0"
for r in 1 2 3; do
  for job in default classic; do
    opts=""; [ $job = classic ] && opts="$CLASSIC"
    for w in 1 2; do
      s=$(date +%s.%N)
      seqcast train --seeds 4 --threads 1 --workers $w $opts --json --home "${SEQCAST_BENCH_HOME:?set it to a workspace with the sample fetched}" > /dev/null
      e=$(date +%s.%N)
      echo "$job workers=$w repeat=$r wall=$(echo "$e - $s" | bc) load=$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
