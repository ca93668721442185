// Package results stores what nnx run produces under a results directory:
// per trial, the resolved config (trial.yaml) and its metrics
// (metrics.json); per experiment, the best trial's weights (best/). Every
// file is written to a temporary name and renamed, so a reader never sees a
// partial file.
package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/grid"
	"github.com/nnx-dev/nnx/pkg/train"
)

// Trial status values.
const (
	StatusDone   = "done"
	StatusFailed = "failed"
)

// File names inside a results directory.
const (
	TrialFile      = "trial.yaml"      // <experiment>/<trial>/
	MetricsFile    = "metrics.json"    // <experiment>/<trial>/
	BestDir        = "best"            // <experiment>/best/: the best trial's bundle
	ExperimentFile = "experiment.json" // <experiment>/
)

// Experiment is RESULTS/<experiment>/experiment.json: what nnx report
// needs beyond the trials' own files, written by nnx run before training.
type Experiment struct {
	Name     string        `json:"name"`
	File     string        `json:"file"`     // the experiment file, as given to nnx run
	Pipeline string        `json:"pipeline"` // the pipeline file
	Report   config.Report `json:"report"`
	Axes     []string      `json:"axes"`   // swept field paths, in grid order
	Trials   []string      `json:"trials"` // every trial id of the grid, in order
	// Grid describes each trial of Trials, so a report can show the ones
	// that have not run yet.
	Grid []GridTrial `json:"grid,omitempty"`
}

// GridTrial is one trial of an experiment's grid, before it runs.
type GridTrial struct {
	ID     string       `json:"id"`
	Label  string       `json:"label"`
	Params []grid.Param `json:"params"`
	Config config.Trial `json:"config"`
}

// WriteExperiment writes experiment.json.
func (s Store) WriteExperiment(e *Experiment) error {
	dir := filepath.Join(s.Dir, e.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := MarshalJSON(e)
	if err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, ExperimentFile), b)
}

// ReadExperiment reads experiment.json.
func (s Store) ReadExperiment(name string) (*Experiment, error) {
	path := filepath.Join(s.Dir, name, ExperimentFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var e Experiment
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &e, nil
}

// Stat summarises a value over folds: mean, sample standard deviation and count.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	N    int     `json:"n"`
}

// NewStat summarises xs (the sample standard deviation is 0 for one value).
func NewStat(xs []float64) Stat {
	s := Stat{N: len(xs)}
	if s.N == 0 {
		return s
	}
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(s.N)
	if s.N > 1 {
		var v float64
		for _, x := range xs {
			v += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(v / float64(s.N-1))
	}
	return s
}

// Metrics is a trial's metrics.json.
type Metrics struct {
	Experiment      string       `json:"experiment"`
	Trial           string       `json:"trial"` // the trial id
	Index           int          `json:"index"` // position in the grid, from 0
	Label           string       `json:"label"`
	Params          []grid.Param `json:"params"`
	Status          string       `json:"status"`
	Error           string       `json:"error,omitempty"`
	Config          config.Trial `json:"config"`
	Device          string       `json:"device"`                // cpu or cuda
	DeviceName      string       `json:"device_name,omitempty"` // the CPU model or GPU name
	Driver          string       `json:"driver,omitempty"`      // GPU driver and CUDA versions
	DataFingerprint string       `json:"data_fingerprint"`
	Engine          string       `json:"engine"`         // the BLAS that trained it: gonum, openblas-1t or cublas
	TrainAccuracy   Stat         `json:"train_accuracy"` // final epoch, over folds
	ValAccuracy     Stat         `json:"val_accuracy"`   // final epoch, over folds
	BestFold        int          `json:"best_fold"`      // highest validation accuracy
	TestAccuracy    float64      `json:"test_accuracy"`  // the best fold's model on the test set
	TestLoss        float64      `json:"test_loss"`
	Confusion       [][]int      `json:"confusion,omitempty"` // the best fold's, on the test set
	Seconds         float64      `json:"seconds"`             // running time: the folds' times added, divided by the folds trained side by side (--jobs)
	Folds           []train.Fold `json:"folds"`
}

// Summarise fills the per-trial fields from a finished training run.
func (m *Metrics) Summarise(r *train.Result) {
	var tr, va []float64
	for _, f := range r.Folds {
		tr = append(tr, f.TrainAccuracy)
		va = append(va, f.ValAccuracy)
	}
	m.Status = StatusDone
	m.Folds = r.Folds
	m.TrainAccuracy, m.ValAccuracy = NewStat(tr), NewStat(va)
	m.BestFold = r.BestFold
	best := r.Folds[r.BestFold]
	m.TestAccuracy, m.TestLoss, m.Confusion = best.Test.Accuracy, best.Test.Loss, best.Test.Confusion
}

// Store is a results directory.
type Store struct {
	Dir string
}

// TrialDir is where a trial's files live.
func (s Store) TrialDir(experiment, id string) string {
	return filepath.Join(s.Dir, experiment, id)
}

// WriteTrial writes trial.yaml and metrics.json for one trial.
func (s Store) WriteTrial(t grid.Trial, m *Metrics) error {
	dir := s.TrialDir(m.Experiment, t.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg, err := TrialYAML(t)
	if err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, TrialFile), cfg); err != nil {
		return err
	}
	js, err := MarshalJSON(m)
	if err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, MetricsFile), js)
}

// TrialYAML renders a trial's resolved config, with its id and swept values
// as a header comment.
func TrialYAML(t grid.Trial) ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# nnx trial %s: %s\n", t.ID, t.Label())
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(struct {
		Version      int `yaml:"version"`
		config.Trial `yaml:",inline"`
	}{config.Version, t.Config}); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// MarshalJSON renders v as indented JSON with a final newline.
func MarshalJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteFile writes data to path atomically: a temporary file in the same
// directory, synced, then renamed over path.
func WriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// LoadExperiment reads every trial's metrics of one experiment, in grid
// order. Directories without a complete metrics.json are skipped.
func (s Store) LoadExperiment(experiment string) ([]*Metrics, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, experiment))
	if err != nil {
		return nil, err
	}
	var out []*Metrics
	for _, e := range entries {
		if !e.IsDir() || e.Name() == BestDir || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(s.Dir, experiment, e.Name(), MetricsFile)
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var m Metrics
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, &m)
	}
	slices.SortFunc(out, func(a, b *Metrics) int {
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		return strings.Compare(a.Trial, b.Trial)
	})
	return out, nil
}

// Better reports whether a is a better trial than b: done beats failed,
// then higher mean validation accuracy, then the earlier grid index. The
// test set never chooses.
func Better(a, b *Metrics) bool {
	if (a.Status == StatusDone) != (b.Status == StatusDone) {
		return a.Status == StatusDone
	}
	if a.ValAccuracy.Mean != b.ValAccuracy.Mean {
		return a.ValAccuracy.Mean > b.ValAccuracy.Mean
	}
	return a.Index < b.Index
}

// SameDir reports whether two paths name one directory (the
// same path once cleaned, or the same file by os.SameFile).
func SameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
