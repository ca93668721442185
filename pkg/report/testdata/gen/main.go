// Command gen writes the fake results tree the report tests read
// (testdata/results): three experiments whose trials are done, failed, not
// run or stale, with two folds and two swept axes. Its numbers are made up
// but plausible. Run from pkg/report: go run ./testdata/gen
package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/grid"
	"github.com/nnx-dev/nnx/pkg/results"
	"github.com/nnx-dev/nnx/pkg/train"
)

const root = "testdata/results"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// folds makes k folds of n epochs whose accuracy rises towards top.
func folds(k, n int, top float64, seed int) []train.Fold {
	var out []train.Fold
	for f := range k {
		fold := train.Fold{Fold: f, TrainSize: 1000, ValSize: 500, BestEpoch: n, Seconds: 10}
		for e := 1; e <= n; e++ {
			r := float64(e) / float64(n)
			wiggle := 0.004*math.Sin(float64(seed+f*7+e*3)) + 0.012*float64(f)*(1-r)
			acc := top - 0.2*(1-r)*(1-r) + wiggle
			fold.Epochs = append(fold.Epochs, train.Epoch{
				Epoch: e, TrainLoss: 1.2*(1-r) + 0.08 + wiggle, TrainAccuracy: acc + 0.01,
				ValLoss: 1.1*(1-r) + 0.12 - wiggle, ValAccuracy: acc, Seconds: 2.5,
			})
		}
		last := fold.Epochs[n-1]
		fold.TrainAccuracy, fold.ValAccuracy = last.TrainAccuracy, last.ValAccuracy
		fold.Test = train.Eval{Accuracy: last.ValAccuracy - 0.003, Loss: last.ValLoss, Confusion: confusion(1000, last.ValAccuracy-0.003, seed+f)}
		out = append(out, fold)
	}
	return out
}

// confusion spreads n test images over 10 classes with accuracy acc.
func confusion(n int, acc float64, seed int) [][]int {
	m := make([][]int, 10)
	for t := range m {
		m[t] = make([]int, 10)
		per := n / 10
		wrong := int(math.Round(float64(per) * (1 - acc)))
		m[t][t] = per - wrong
		for w := 0; w < wrong; w++ {
			p := (t + 1 + (w*(seed+3)+t)%9) % 10
			m[t][p]++
		}
	}
	return m
}

func done(m *results.Metrics, k, n int, top float64, seed int, secs float64) {
	r := &train.Result{Folds: folds(k, n, top, seed)}
	for i, f := range r.Folds {
		if f.ValAccuracy > r.Folds[r.BestFold].ValAccuracy {
			r.BestFold = i
		}
	}
	m.Summarise(r)
	m.Seconds = secs
}

func mlp(hidden []int, lr float64, folds int) config.Trial {
	return config.Trial{
		Data:   config.Data{Source: "mnist", Limit: 1500},
		Split:  config.Split{Folds: folds, Holdout: 0.2, Test: "official"},
		Model:  config.Model{Hidden: hidden, Activation: "relu", Init: "normal"},
		Train:  config.Train{Epochs: 3, BatchSize: 32, Optimizer: "sgd", LearningRate: lr, Schedule: "constant"},
		Device: "cpu", Seed: 42,
	}
}

// trial is a grid point with a fixed, made-up id (nnx run hashes the
// config; the report does not care how an id was made).
func trial(i int, id string, c config.Trial, params ...grid.Param) grid.Trial {
	return grid.Trial{Index: i, ID: id, Params: params, Config: c}
}

func metrics(exp string, t grid.Trial) *results.Metrics {
	return &results.Metrics{Experiment: exp, Trial: t.ID, Index: t.Index, Label: t.Label(), Params: t.Params,
		Config: t.Config, Device: "cpu", DataFingerprint: "0123456789abcdef"}
}

func run() error {
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	store := results.Store{Dir: root}

	// sweep: model.hidden x train.learning_rate, 2 folds, 3 epochs; the
	// 4th trial failed, the 6th has not run, and a stale trial remains.
	var trials []grid.Trial
	for _, h := range [][]int{{16, 16}, {32, 32}, {64, 64}} {
		for _, lr := range []float64{0.05, 0.1} {
			c := mlp(h, lr, 2)
			trials = append(trials, trial(len(trials), fmt.Sprintf("5eed0000000%d", len(trials)+1), c,
				grid.Param{Path: "model.hidden", Value: fmt.Sprintf("[%d, %d]", h[0], h[1])},
				grid.Param{Path: "train.learning_rate", Value: fmt.Sprint(lr)}))
		}
	}
	info := &results.Experiment{Name: "sweep", File: "experiments/sweep.yaml", Pipeline: "pipelines/mnist.yaml",
		Report: config.Report{Title: "MLP sweep"}, Axes: []string{"model.hidden", "train.learning_rate"}}
	for _, t := range trials {
		info.Trials = append(info.Trials, t.ID)
	}
	if err := store.WriteExperiment(info); err != nil {
		return err
	}
	tops := []float64{0.90, 0.91, 0.93, 0, 0.95, 0}
	for i, t := range trials[:5] {
		m := metrics("sweep", t)
		if i == 3 {
			m.Status, m.Error, m.Seconds = results.StatusFailed, "fold 2: loss is NaN at epoch 2\n(learning rate too high?)", 4.2
		} else {
			done(m, 2, 3, tops[i], i, 60*float64(i+1)+3.4)
		}
		if err := store.WriteTrial(t, m); err != nil {
			return err
		}
	}
	stale := trial(0, "57a1e0000001", mlp([]int{8}, 0.05, 2), grid.Param{Path: "model.hidden", Value: "[8]"})
	sm := metrics("sweep", stale)
	done(sm, 2, 3, 0.85, 9, 30)
	if err := store.WriteTrial(stale, sm); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "sweep", results.BestDir), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "sweep", results.BestDir, "weights.safetensors"), []byte("not parsed\n"), 0o644); err != nil {
		return err
	}

	// legacy-cnn: no experiment.json, one layered trial, one fold.
	c := mlp(nil, 0.01, 1)
	c.Model = config.Model{Init: "pytorch", Layers: []config.Layer{{Flatten: &config.Empty{}}, {Dense: &config.Dense{Units: 10}}}}
	c.Train.Epochs = 2
	t := trial(0, "c0ffee000001", c)
	m := metrics("legacy-cnn", t)
	done(m, 1, 2, 0.97, 5, 3725)
	if err := store.WriteTrial(t, m); err != nil {
		return err
	}

	// custom: a report section with a title and its own columns.
	c = mlp([]int{128}, 0.01, 2)
	c.Train.Optimizer, c.Train.BatchSize = "adam", 64
	t = trial(0, "ab0000000001", c, grid.Param{Path: "train.optimizer", Value: "adam"})
	info = &results.Experiment{Name: "custom", File: "/abs/path/custom.yaml", Pipeline: "pipelines/mnist.yaml",
		Report: config.Report{Title: "Custom | columns", Columns: []string{"trial", "label", "batch_size", "optimizer", "val_accuracy", "test_accuracy", "time"}},
		Axes:   []string{"train.optimizer"}, Trials: []string{t.ID}}
	if err := store.WriteExperiment(info); err != nil {
		return err
	}
	m = metrics("custom", t)
	done(m, 2, 2, 0.96, 7, 45)
	if err := store.WriteTrial(t, m); err != nil {
		return err
	}

	// Ignored: the overall best bundle, dot directories, a directory with
	// neither experiment.json nor metrics.
	for _, d := range []string{"best", ".cache", "empty"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "best", results.MetricsFile), []byte("{not parsed\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, ".cache", "x"), []byte("x\n"), 0o644)
}
