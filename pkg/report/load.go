package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nnx-dev/nnx/pkg/results"
)

// NoResultsError says a results directory holds no experiment.
type NoResultsError struct {
	Dir string
}

// Error implements error, naming the command that produces results.
func (e *NoResultsError) Error() string {
	dir := filepath.ToSlash(e.Dir)
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	return fmt.Sprintf("no results in %s (run 'nnx run experiments/<name>.yaml' to produce them)", dir)
}

// Experiment is one experiment's results as nnx report shows them.
type Experiment struct {
	Name string
	// Info is experiment.json; a directory without one gets only its Name,
	// and the axes its trials' parameters name.
	Info results.Experiment
	// Trials are the rows, in grid order. A trial experiment.json lists
	// without a metrics.json has Status StatusNotRun and only its id and
	// index.
	Trials []*results.Metrics
	// Stale lists trial directories with a metrics.json whose ids the
	// current grid (experiment.json) no longer has: not shown as rows.
	Stale []string
	// HasBest says the directory holds a best/ bundle.
	HasBest bool
}

// Title is the table's heading: the report section's title, else the
// experiment's name.
func (e *Experiment) Title() string {
	if e.Info.Report.Title != "" {
		return e.Info.Report.Title
	}
	return e.Name
}

// Keys are the table's column keys: the report section's, else the
// defaults for the experiment's kind of model.
func (e *Experiment) Keys() []string {
	if len(e.Info.Report.Columns) > 0 {
		return e.Info.Report.Columns
	}
	return DefaultColumns(e.Trials)
}

// Table renders the experiment's table.
func (e *Experiment) Table() (header []string, rows [][]string, err error) {
	header, rows, err = Table(e.Keys(), e.Trials)
	if err != nil {
		return nil, nil, fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	return header, rows, nil
}

// Best is the best finished trial (results.Better: highest mean
// validation accuracy, then the earlier one), or nil.
func (e *Experiment) Best() *results.Metrics {
	var best *results.Metrics
	for _, m := range e.Trials {
		if m.Status == results.StatusDone && (best == nil || results.Better(m, best)) {
			best = m
		}
	}
	return best
}

// Count returns how many trials have the status.
func (e *Experiment) Count(status string) int {
	n := 0
	for _, m := range e.Trials {
		if m.Status == status {
			n++
		}
	}
	return n
}

// Load reads every experiment under dir, sorted by name. Dot entries and a
// top-level best/ (a bundle) are skipped; a directory counts when it has
// an experiment.json or a trial's metrics.json. No experiment at all is a
// *NoResultsError.
func Load(dir string) ([]*Experiment, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &NoResultsError{Dir: dir}
	}
	if err != nil {
		return nil, err
	}
	var out []*Experiment
	for _, ent := range entries {
		name := ent.Name()
		if !ent.IsDir() || name == results.BestDir || strings.HasPrefix(name, ".") {
			continue
		}
		e, err := loadExperiment(dir, name)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, &NoResultsError{Dir: dir}
	}
	slices.SortFunc(out, func(a, b *Experiment) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// loadExperiment reads one experiment directory, or returns nil when it
// holds neither experiment.json nor any metrics.
func loadExperiment(dir, name string) (*Experiment, error) {
	store := results.Store{Dir: dir}
	ms, err := store.LoadExperiment(name)
	if err != nil {
		return nil, err
	}
	info, err := store.ReadExperiment(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if len(ms) == 0 {
			return nil, nil
		}
		info = &results.Experiment{Name: name, Axes: paramAxes(ms)}
	case err != nil:
		return nil, err
	}
	e := &Experiment{Name: name, Info: *info}
	e.Info.Name = name
	_, err = os.Stat(filepath.Join(dir, name, results.BestDir))
	e.HasBest = err == nil
	if len(info.Trials) == 0 {
		e.Trials = ms
		return e, nil
	}
	byID := map[string]*results.Metrics{}
	for _, m := range ms {
		byID[m.Trial] = m
	}
	for i, id := range info.Trials {
		m, ok := byID[id]
		if !ok {
			status := StatusNotRun
			st, _, err := store.TrialState(name, id)
			if err != nil {
				return nil, err
			}
			if st == results.Partial || st == results.Running {
				status = StatusUnfinished
			}
			m = &results.Metrics{Experiment: name, Trial: id, Index: i, Status: status}
			if i < len(info.Grid) && info.Grid[i].ID == id {
				g := info.Grid[i]
				m.Label, m.Params, m.Config = g.Label, g.Params, g.Config
			}
		}
		delete(byID, id)
		e.Trials = append(e.Trials, m)
	}
	for _, m := range ms {
		if _, ok := byID[m.Trial]; ok {
			e.Stale = append(e.Stale, m.Trial)
		}
	}
	return e, nil
}

// paramAxes lists the swept paths the trials' parameters name, in order of
// first appearance.
func paramAxes(ms []*results.Metrics) []string {
	var axes []string
	for _, m := range ms {
		for _, p := range m.Params {
			if !slices.Contains(axes, p.Path) {
				axes = append(axes, p.Path)
			}
		}
	}
	return axes
}
