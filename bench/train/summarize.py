#!/usr/bin/python3
"""Summarise bench/train.sh's raw JSON lines into the nnx/PyTorch table.

    summarize.py speed DIR     # DIR/<model>-b<batch>.<side>.<round>.jsonl
    summarize.py memory DIR    # DIR/memory-<model>-b<batch>.<side>.jsonl
    summarize.py progress FILE # one line per epoch of one run

speed: per case and side, the median training seconds per epoch over every
epoch of every round, the median evaluation seconds, the test accuracy
after the last epoch (mean over rounds) and the peak RSS (largest over
rounds); the ratio is nnx's median over PyTorch's. memory: VmHWM (and VmRSS,
Go heap) after each epoch, and VmHWM's growth after the first epoch and over
the second half of the run. Standard library only.
"""

import glob
import json
import os
import re
import statistics
import sys

GOALS = {"mlp": 0.6, "cnn": 1.5}  # issue 8: ratio at most (the CNN's final goal is 1.0)
CNN_FINAL_GOAL = 1.0
ACC_TOLERANCE = 0.3  # points, after the same number of epochs
MEMORY_TOLERANCE = 0.05  # VmHWM growth after epoch 1, as a fraction
LATE_TOLERANCE = 0.01  # VmHWM growth over the second half of the run


def read(path):
    setup, epochs = None, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            d = json.loads(line)
            if d.get("kind") == "setup":
                setup = d
            elif d.get("kind") == "epoch":
                epochs.append(d)
    return setup, epochs


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def speed(directory):
    runs = {}  # (case, side) -> list of (setup, epochs)
    pat = re.compile(r"^(mlp|cnn)-b(\d+)\.([\w-]+)\.(\d+)\.jsonl$")
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
        m = pat.match(os.path.basename(path))
        if not m:
            continue
        setup, epochs = read(path)
        if epochs:
            runs.setdefault(((m.group(1), int(m.group(2))), m.group(3)), []).append((setup, epochs))
    cases = sorted({c for c, _ in runs}, key=lambda c: (c[0] != "mlp", c[1]))
    nnx_sides = sorted({s for _, s in runs if s.startswith("nnx")}, key=lambda s: (s != "nnx", s))

    def stats(case, side):
        rs = runs.get((case, side))
        if not rs:
            return None
        train = [e["train_s"] for _, es in rs for e in es]
        evals = [e["eval_s"] for _, es in rs for e in es]
        last = [es[-1] for _, es in rs]
        return {
            "train": statistics.median(train), "eval": statistics.median(evals),
            "acc": statistics.mean(e["test_acc"] for e in last),
            "epochs": statistics.mean(e["epoch"] for e in last),
            "rss": max(e["peak_rss_mb"] for _, es in rs for e in es),
            "runs": len(rs), "n": len(train),
            "spread": (min(train), max(train)),
        }

    head = ("| case | nnx build | nnx s/epoch | torch s/epoch | ratio | torch as shipped s/epoch | ratio | goal "
            "| pass (torch / as shipped) | nnx eval s | torch eval s "
            "| nnx acc % | torch acc % | Δacc | nnx peak RSS MB | torch peak RSS MB | epochs timed (nnx/torch/as shipped) |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    failures = 0
    verdict = {None: "n/a", True: "pass", False: "FAIL"}
    for case in cases:
        t, d = stats(case, "torch"), stats(case, "torch-default")
        for side in nnx_sides or ["nnx"]:
            n = stats(case, side)
            ratio = n["train"] / t["train"] if n and t else None
            dratio = n["train"] / d["train"] if n and d else None
            goal = GOALS[case[0]]
            ok = None if ratio is None else ratio <= goal
            dok = None if dratio is None else dratio <= goal
            if ok is False:
                failures += 1
            dacc = n["acc"] - t["acc"] if n and t else None
            goal_s = f"≤ {goal}" + (f" (→ {CNN_FINAL_GOAL})" if case[0] == "cnn" else "")
            print(f"| {case[0]} b{case[1]} | {side.removeprefix('nnx-') if side != 'nnx' else 'gonum'} "
                  f"| {fmt(n and n['train'], '.2f')} | {fmt(t and t['train'], '.2f')} | {fmt(ratio, '.2f')} "
                  f"| {fmt(d and d['train'], '.2f')} | {fmt(dratio, '.2f')} "
                  f"| {goal_s} | {verdict[ok]} / {verdict[dok]} "
                  f"| {fmt(n and n['eval'], '.2f')} | {fmt(t and t['eval'], '.2f')} "
                  f"| {fmt(n and n['acc'], '.2f')} | {fmt(t and t['acc'], '.2f')} | {fmt(dacc, '+.2f')} "
                  f"| {fmt(n and n['rss'], '.0f')} | {fmt(t and t['rss'], '.0f')} "
                  f"| {n['n'] if n else 0}/{t['n'] if t else 0}/{d['n'] if d else 0} |")
    print()
    print("s/epoch: median training seconds per epoch over every epoch of every round (evaluation excluded);")
    print("torch: PyTorch with TORCH_ENV (default OMP_WAIT_POLICY=PASSIVE, its fastest setting here); torch as shipped:")
    print("the same PyTorch as Debian ships it, nothing set (the issue's literal peer); the exit status judges against torch.")
    print("eval s: median seconds of one test-set pass (10,000 images); acc: test accuracy after the last epoch,")
    print(f"mean over rounds, seed r in round r (issue 8 wants |Δacc| ≤ {ACC_TOLERANCE} after the same epochs); ratio: nnx / torch.")
    for case in cases:
        for side in (nnx_sides or ["nnx"]) + ["torch", "torch-default"]:
            s = stats(case, side)
            if s:
                print(f"  spread {case[0]} b{case[1]} {side}: train s/epoch min {s['spread'][0]:.2f} max {s['spread'][1]:.2f} "
                      f"over {s['n']} epochs in {s['runs']} runs")
    return failures


def memory(directory):
    worst = 0
    for path in sorted(glob.glob(os.path.join(directory, "memory-*.jsonl"))):
        setup, epochs = read(path)
        if not epochs:
            print(f"{os.path.basename(path)}: no epochs")
            worst = 1
            continue
        name = os.path.basename(path).removeprefix("memory-").removesuffix(".jsonl")
        hwm = [e["peak_rss_mb"] for e in epochs]
        rss = [e["rss_mb"] for e in epochs]
        heap = [e.get("go_heap_mb") for e in epochs]
        print(f"{name}: VmHWM MB per epoch: " + " ".join(f"{v:.0f}" for v in hwm))
        print(f"{' ' * len(name)}  VmRSS MB per epoch:  " + " ".join(f"{v:.0f}" for v in rss))
        if all(h is not None for h in heap):
            print(f"{' ' * len(name)}  Go heap MB per epoch: " + " ".join(f"{v:.0f}" for v in heap))
        growth = (hwm[-1] - hwm[0]) / hwm[0]
        half = len(hwm) // 2
        late = (hwm[-1] - hwm[half]) / hwm[half]  # over the second half of the run
        flat = growth <= MEMORY_TOLERANCE
        if flat:
            verdict = "flat"
        elif late <= LATE_TOLERANCE:
            verdict = f"NOT FLAT: grows early, then settles (no growth after epoch {half + 1})"
        else:
            verdict = "GROWS through the run (leak?)"
        print(f"{' ' * len(name)}  VmHWM growth after epoch 1: {hwm[-1] - hwm[0]:+.0f} MB ({100 * growth:+.1f}%), "
              f"after epoch {half + 1}: {hwm[-1] - hwm[half]:+.0f} MB ({100 * late:+.1f}%) over {len(hwm)} epochs: "
              f"{verdict} (tolerance {100 * MEMORY_TOLERANCE:.0f}%); "
              f"train s/epoch median {statistics.median(e['train_s'] for e in epochs):.2f}")
        if not flat:
            worst = 1
    return worst


def progress(path):
    _, epochs = read(path)
    for d in epochs:
        print(f"  {d['side']:<12} {d['model']} b{d['batch']} epoch {d['epoch']}: train {d['train_s']:.2f}s "
              f"eval {d['eval_s']:.2f}s test {d['test_acc']:.2f}% peak RSS {d['peak_rss_mb']:.0f} MB")
    return 0


def main():
    modes = {"speed": speed, "memory": memory, "progress": progress}
    if len(sys.argv) != 3 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    sys.exit(1 if modes[sys.argv[1]](sys.argv[2]) else 0)


if __name__ == "__main__":
    main()
