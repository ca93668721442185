package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nnx-dev/nnx/pkg/results"
)

func sources(t *testing.T, dirs ...string) []Source {
	t.Helper()
	var srcs []Source
	for _, d := range dirs {
		srcs = append(srcs, Source{Dir: d, Experiments: load(t, d)})
	}
	return srcs
}

func removeAll(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
}

// editMetrics rewrites a metrics.json through fn.
func editMetrics(t *testing.T, path string, fn func(*results.Metrics)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m results.Metrics
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	fn(&m)
	if b, err = results.MarshalJSON(&m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMergeSplitEqualsWhole splits the fixture's trials between two
// directories: merged (into the first, then read back), they give the
// very bytes of the whole fixture's report, and the second is untouched.
func TestMergeSplitEqualsWhole(t *testing.T) {
	whole := copyTree(t)
	want, err := Files(load(t, whole))
	if err != nil {
		t.Fatal(err)
	}
	a, b := copyTree(t), copyTree(t)
	removeAll(t, filepath.Join(a, "sweep", "5eed00000003"), filepath.Join(a, "sweep", "5eed00000004"), filepath.Join(a, "custom"),
		filepath.Join(b, "sweep", "5eed00000001"), filepath.Join(b, "sweep", "5eed00000002"), filepath.Join(b, "legacy-cnn"),
		filepath.Join(b, "sweep", "best"))
	before, _ := os.ReadDir(filepath.Join(b, "sweep"))

	m, err := Merge(sources(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Files(m.Experiments)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("the merged report differs from the whole one:\n%s\n---\n%s", got["README.md"], want["README.md"])
	}
	copied, notes, err := m.Into(a)
	if err != nil {
		t.Fatal(err)
	}
	if w := []string{"custom/ab0000000001", "sweep/5eed00000003", "sweep/5eed00000004"}; !slices.Equal(copied, w) || len(notes) > 0 {
		t.Errorf("copied %v (notes %q), want %v", copied, notes, w)
	}
	got, err = Files(load(t, a))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("the report of the merged directory differs from the whole one:\n%s\n---\n%s", got["README.md"], want["README.md"])
	}
	for _, f := range []string{"custom/experiment.json", "custom/ab0000000001/trial.yaml", "sweep/5eed00000004/metrics.json"} {
		w, _ := os.ReadFile(filepath.Join(whole, f))
		if g, err := os.ReadFile(filepath.Join(a, f)); err != nil || !bytes.Equal(g, w) {
			t.Errorf("%s not copied as it was: %v", f, err)
		}
	}
	if after, _ := os.ReadDir(filepath.Join(b, "sweep")); len(after) != len(before) {
		t.Errorf("the second directory changed: %d entries, then %d", len(before), len(after))
	}
	// Again: nothing left to copy.
	m, err = Merge(sources(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	if copied, _, err := m.Into(a); err != nil || len(copied) != 0 {
		t.Errorf("second merge copied %v, %v", copied, err)
	}
}

func TestMergeDuplicates(t *testing.T) {
	a, b := copyTree(t), copyTree(t)
	// Same trial, other timings: one trial, the first directory's copy.
	editMetrics(t, filepath.Join(b, "sweep", "5eed00000001", "metrics.json"), func(m *results.Metrics) { m.Seconds += 100 })
	m, err := Merge(sources(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	want := load(t, a)
	for i, e := range m.Experiments {
		if len(e.Trials) != len(want[i].Trials) {
			t.Fatalf("%s: %d trials, want %d", e.Name, len(e.Trials), len(want[i].Trials))
		}
		for j, tr := range e.Trials {
			if tr.Trial != want[i].Trials[j].Trial || tr.Seconds != want[i].Trials[j].Seconds {
				t.Errorf("%s trial %d: %s, %gs; want the first directory's %s, %gs", e.Name, j, tr.Trial, tr.Seconds,
					want[i].Trials[j].Trial, want[i].Trials[j].Seconds)
			}
		}
	}

	// Other numbers: a reproducibility failure that names the trial, both
	// directories and each difference; nothing is merged.
	editMetrics(t, filepath.Join(b, "sweep", "5eed00000002", "metrics.json"), func(m *results.Metrics) {
		m.TestAccuracy += 0.01
		m.Folds[0].Epochs[0].ValLoss = 0.123
	})
	_, err = Merge(sources(t, a, b))
	var re *ReproducibilityError
	if !errors.As(err, &re) || len(re.Conflicts) != 1 {
		t.Fatalf("error %v, want a *ReproducibilityError with one conflict", err)
	}
	c := re.Conflicts[0]
	if c.Experiment != "sweep" || c.Trial != "5eed00000002" || c.Dirs != [2]string{a, b} || len(c.Diffs) != 2 {
		t.Fatalf("conflict %+v", c)
	}
	if !strings.HasPrefix(c.Diffs[0], "test accuracy: "+a+" ") || !strings.Contains(c.Diffs[0], ", "+b+" ") ||
		!strings.HasPrefix(c.Diffs[1], "fold 1 epoch 1 validation loss: ") {
		t.Errorf("differences %q", c.Diffs)
	}
	if s := c.String(); !strings.Contains(s, "trial 5eed00000002 (") || !strings.Contains(s, "of experiment sweep differs between "+a+" and "+b+": 2 number(s)") {
		t.Errorf("conflict reads %q", s)
	}
}

func TestMergeFailedAndDone(t *testing.T) {
	a, b := copyTree(t), copyTree(t)
	// The fixture's failed trial is done in b: the done copy wins.
	var failed string
	for _, e := range load(t, a) {
		for _, m := range e.Trials {
			if m.Status == results.StatusFailed && e.Name == "sweep" {
				failed = m.Trial
			}
		}
	}
	if failed == "" {
		t.Fatal("the fixture has no failed sweep trial")
	}
	donor, _ := os.ReadFile(filepath.Join(a, "sweep", "5eed00000001", "metrics.json"))
	var m results.Metrics
	json.Unmarshal(donor, &m)
	path := filepath.Join(b, "sweep", failed, "metrics.json")
	editMetrics(t, path, func(f *results.Metrics) {
		idx, label, params, cfg := f.Index, f.Label, f.Params, f.Config
		*f = m
		f.Trial, f.Index, f.Label, f.Params, f.Config = failed, idx, label, params, cfg
	})
	merged, err := Merge(sources(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Notes) != 1 || !strings.Contains(merged.Notes[0], "trial "+failed+" failed in "+a+" but is done in "+b) {
		t.Errorf("notes %q", merged.Notes)
	}
	copied, _, err := merged.Into(a)
	if err != nil || !slices.Equal(copied, []string{"sweep/" + failed}) {
		t.Fatalf("copied %v, %v", copied, err)
	}
	if st, _, _ := (results.Store{Dir: a}).TrialState("sweep", failed); st != results.Done {
		t.Errorf("state in the merged directory: %s", st)
	}
}

func TestMergeDifferentGrids(t *testing.T) {
	a, b := copyTree(t), copyTree(t)
	p := filepath.Join(b, "sweep", "experiment.json")
	raw, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(raw, []byte(`"5eed00000005"`), []byte(`"5eed00000009"`), 1), 0o644)
	_, err := Merge(sources(t, a, b))
	if err == nil || err.Error() != "experiment sweep: "+a+" and "+b+" hold different grids (their experiment.json differ): merge only results of one version of an experiment" {
		t.Errorf("error %v", err)
	}
}

// TestMergeBest: the merged directory's best/ becomes a copy of the best/
// that holds the best trial, whatever files it has.
func TestMergeBest(t *testing.T) {
	a, b := copyTree(t), copyTree(t)
	ms := load(t, a)
	var sweep *Experiment
	for _, e := range ms {
		if e.Name == "sweep" {
			sweep = e
		}
	}
	best := sweep.Best()
	other := sweep.Trials[0]
	if other.Trial == best.Trial {
		other = sweep.Trials[1]
	}
	write := func(dir string, m *results.Metrics, extra string) {
		js, _ := results.MarshalJSON(m)
		os.WriteFile(filepath.Join(dir, "sweep", "best", "metrics.json"), js, 0o644)
		os.WriteFile(filepath.Join(dir, "sweep", "best", extra), []byte(extra), 0o644)
	}
	write(a, other, "from-a")
	write(b, best, "from-b")
	removeAll(t, filepath.Join(a, "sweep", best.Trial))
	m, err := Merge(sources(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Into(a); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(a, "sweep", "best"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"from-b", "metrics.json", "weights.safetensors"}) {
		t.Errorf("best/ holds %v, want b's", names)
	}
	if left, _ := filepath.Glob(filepath.Join(a, "sweep", ".best-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}

	// No directory holds the best trial's best/: a's, another trial's, goes.
	c := copyTree(t)
	write(c, other, "from-c")
	m, err = Merge(sources(t, c))
	if err != nil {
		t.Fatal(err)
	}
	_, notes, err := m.Into(c)
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "no directory's best/ holds the best trial "+best.Trial) {
		t.Fatalf("notes %q, %v", notes, err)
	}
	if _, err := os.Stat(filepath.Join(c, "sweep", "best")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a best/ of another trial is kept: %v", err)
	}
}
