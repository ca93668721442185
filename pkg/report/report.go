// Package report turns stored results into what a README shows: markdown
// tables in the seed project's shape, PNG plots (learning and loss curves,
// test accuracy against each swept hyperparameter, the best trial's
// confusion matrix), and blocks injected between markers in any markdown
// file. It reads only the results directory, and the same results always
// give the same bytes: fixed number formats, rows in grid order, no
// timestamps, no absolute paths.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nnx-dev/nnx/pkg/results"
)

// File names nnx report writes.
const (
	ReadmeFile = "README.md" // RESULTS/ and RESULTS/<experiment>/
	PlotsDir   = "plots"     // RESULTS/<experiment>/plots/
)

// Plot file names inside PlotsDir.
func learningFile(id string) string  { return "learning-" + id + ".png" }
func lossFile(id string) string      { return "loss-" + id + ".png" }
func confusionFile(id string) string { return "confusion-" + id + ".png" }
func axisFile(axis string) string    { return "test-vs-" + safeName(axis) + ".png" }

// safeName keeps letters, digits, '.', '-' and '_' and replaces the rest.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// Plots renders an experiment's plots, keyed by file name inside PlotsDir:
// the learning and loss curves of every trial with per-epoch metrics, test
// accuracy against every swept axis with two or more values, and the best
// trial's confusion matrix.
func Plots(e *Experiment) (map[string][]byte, error) {
	out := map[string][]byte{}
	add := func(name string, render func() ([]byte, error)) error {
		b, err := render()
		if err != nil {
			return fmt.Errorf("experiment %s: plot %s: %w", e.Name, name, err)
		}
		if b != nil {
			out[name] = b
		}
		return nil
	}
	for _, m := range e.Trials {
		if !hasCurves(m) {
			continue
		}
		if err := add(learningFile(m.Trial), func() ([]byte, error) { return LearningPlot(m) }); err != nil {
			return nil, err
		}
		if err := add(lossFile(m.Trial), func() ([]byte, error) { return LossPlot(m) }); err != nil {
			return nil, err
		}
	}
	for _, a := range e.Info.Axes {
		if err := add(axisFile(a), func() ([]byte, error) { return HyperparameterPlot(e.Trials, e.Info.Axes, a) }); err != nil {
			return nil, err
		}
	}
	if best := e.Best(); best != nil {
		if err := add(confusionFile(best.Trial), func() ([]byte, error) { return ConfusionPlot(best) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Files renders everything nnx report writes, keyed by slash path relative
// to the results directory: README.md, and per experiment its README.md
// and its plots.
func Files(exps []*Experiment) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, e := range exps {
		plots, err := Plots(e)
		if err != nil {
			return nil, err
		}
		for name, b := range plots {
			out[path.Join(e.Name, PlotsDir, name)] = b
		}
		page, err := ExperimentPage(e, plots)
		if err != nil {
			return nil, err
		}
		out[path.Join(e.Name, ReadmeFile)] = page
	}
	index, err := Index(exps)
	if err != nil {
		return nil, err
	}
	out[ReadmeFile] = index
	return out, nil
}

// Write writes files (from Files) under dir, each atomically and only when
// its bytes change, and removes the PNGs in each experiment's plots/ that
// files no longer has. It returns the slash paths it wrote or removed.
func Write(dir string, exps []*Experiment, files map[string][]byte) (changed []string, err error) {
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return changed, err
		}
		if err := results.WriteFile(p, files[name]); err != nil {
			return changed, err
		}
		changed = append(changed, name)
	}
	for _, e := range exps {
		plots := filepath.Join(dir, e.Name, PlotsDir)
		entries, err := os.ReadDir(plots)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, err
		}
		for _, ent := range entries {
			name := path.Join(e.Name, PlotsDir, ent.Name())
			if _, keep := files[name]; keep || ent.IsDir() || !strings.HasSuffix(ent.Name(), ".png") {
				continue
			}
			if err := os.Remove(filepath.Join(plots, ent.Name())); err != nil {
				return changed, err
			}
			changed = append(changed, name)
		}
	}
	return changed, nil
}
