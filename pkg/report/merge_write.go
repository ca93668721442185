package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nnx-dev/nnx/pkg/results"
)

// Into makes out a complete results directory for the merged
// experiments, so that Load(out) reads what Merge did and a later
// `nnx run --results out` finds every merged trial done: each
// experiment's experiment.json and the files of every trial copy Merge
// took from another directory are copied in (a trial's files under its
// lock, metrics.json last; a trial another process holds is left alone),
// and best/ is replaced with a copy of the best/ of a directory whose
// best/ holds the merged best trial, bundle as nnx run wrote it. The other
// directories are only read. It returns the trials it copied, as
// "experiment/id", and notes.
func (m *Merged) Into(out string) (copied, notes []string, err error) {
	store := results.Store{Dir: out}
	for _, e := range m.Experiments {
		expDir := filepath.Join(out, e.Name)
		if err := os.MkdirAll(expDir, 0o755); err != nil {
			return copied, notes, err
		}
		if src := m.info[e.Name]; src != "" && !results.SameDir(src, out) {
			if _, err := os.Stat(filepath.Join(expDir, results.ExperimentFile)); errors.Is(err, fs.ErrNotExist) {
				if err := copyFile(filepath.Join(src, e.Name, results.ExperimentFile), filepath.Join(expDir, results.ExperimentFile)); err != nil {
					return copied, notes, err
				}
			}
		}
		for _, t := range e.Trials {
			src, ok := m.from[e.Name][t.Trial]
			if !ok || results.SameDir(src, out) {
				continue
			}
			done, err := copyTrial(store, results.Store{Dir: src}, e.Name, t.Trial)
			var be *results.BusyError
			switch {
			case errors.As(err, &be):
				notes = append(notes, fmt.Sprintf("experiment %s: %v in %s; its copy from %s was not taken", e.Name, be, out, src))
			case err != nil:
				return copied, notes, err
			case done:
				copied = append(copied, e.Name+"/"+t.Trial)
			}
		}
		n, err := m.best(store, e)
		if err != nil {
			return copied, notes, err
		}
		if n != "" {
			notes = append(notes, n)
		}
	}
	return copied, notes, nil
}

// best makes out's best/ of the experiment hold the merged best trial: a
// copy of the first source's best/ that does. When none does and out's
// best/ holds another trial, it is removed, and the note says how to
// rebuild it.
func (m *Merged) best(store results.Store, e *Experiment) (note string, err error) {
	best := e.Best()
	if best == nil {
		return "", nil
	}
	holding := func(dir string) string {
		b, err := os.ReadFile(filepath.Join(dir, e.Name, results.BestDir, results.MetricsFile))
		var bm results.Metrics
		if err != nil || json.Unmarshal(b, &bm) != nil {
			return ""
		}
		return bm.Trial
	}
	cur := holding(store.Dir)
	if cur == best.Trial {
		return "", nil
	}
	src := ""
	for _, s := range m.sources {
		if holding(s.Dir) == best.Trial {
			src = s.Dir
			break
		}
	}
	if src == "" && cur == "" {
		return "", nil // no best/, or one that does not say which trial it holds: left as it is
	}
	err = store.Exclusive(e.Name, func() error {
		expDir := filepath.Join(store.Dir, e.Name)
		final := filepath.Join(expDir, results.BestDir)
		if src == "" {
			return os.RemoveAll(final)
		}
		tmp, err := os.MkdirTemp(expDir, ".best-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := copyFiles(filepath.Join(src, e.Name, results.BestDir), tmp, nil); err != nil {
			return err
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		old := tmp + ".old"
		if err := os.Rename(final, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
		return os.RemoveAll(old)
	})
	if err == nil && src == "" {
		note = fmt.Sprintf("experiment %s: no directory's %s/ holds the best trial %s, so %s has none; "+
			"'nnx run EXPERIMENT --results %s' rebuilds it without training", e.Name, results.BestDir, best.Trial, store.Dir, store.Dir)
	}
	return note, err
}

// CopyTrial copies a trial's files (every file of its directory but dot
// files: trial.yaml, weights, metrics.json last) from src into dst under
// the trial's lock in dst, unless dst has it done already, and clears
// dst's checkpoints of it. It returns whether it copied, or
// *results.BusyError when another process holds the trial in dst.
func CopyTrial(dst, src results.Store, experiment, id string) (bool, error) {
	return copyTrial(dst, src, experiment, id)
}

func copyTrial(dst, src results.Store, experiment, id string) (bool, error) {
	unlock, err := dst.Lock(experiment, id)
	if err != nil {
		return false, err
	}
	defer unlock()
	if st, _, err := dst.TrialState(experiment, id); err != nil {
		return false, err
	} else if st == results.Done {
		return false, nil
	}
	if err := copyFiles(src.TrialDir(experiment, id), dst.TrialDir(experiment, id), []string{results.MetricsFile}); err != nil {
		return false, err
	}
	return true, dst.Checkpoints(experiment, id).Clear()
}

// copyFiles copies the regular files of dir src into dir dst, each
// atomically, skipping dot files; the names in last are copied last, in
// order.
func copyFiles(src, dst string, last []string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	var names []string
	for _, ent := range entries {
		if ent.Type().IsRegular() && !strings.HasPrefix(ent.Name(), ".") && !slices.Contains(last, ent.Name()) {
			names = append(names, ent.Name())
		}
	}
	for _, l := range last {
		if _, err := os.Stat(filepath.Join(src, l)); err == nil {
			names = append(names, l)
		}
	}
	for _, n := range names {
		if err := copyFile(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return results.WriteFile(dst, b)
}
