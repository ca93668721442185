package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nnx-dev/nnx/pkg/results"
)

// Source is one results directory as Load read it.
type Source struct {
	Dir         string
	Experiments []*Experiment
}

// Conflict is a trial whose copies in two results directories have
// different metrics (timings aside).
type Conflict struct {
	Experiment, Trial, Label string
	Dirs                     [2]string
	Diffs                    []string // "where: DIR_A x, DIR_B y (diff d)", as results.Diff
}

func (c Conflict) String() string {
	name := "trial " + c.Trial
	if c.Label != "" && c.Label != "base" {
		name += " (" + c.Label + ")"
	}
	return fmt.Sprintf("%s of experiment %s differs between %s and %s: %d number(s)",
		name, c.Experiment, c.Dirs[0], c.Dirs[1], len(c.Diffs))
}

// ReproducibilityError says trials have copies with different metrics in
// different results directories. A trial id fixes the config, the data and
// the BLAS, so on a CPU every copy should hold the same numbers.
type ReproducibilityError struct {
	Conflicts []Conflict
}

func (e *ReproducibilityError) Error() string {
	return fmt.Sprintf("reproducibility failure: %d trial(s) have copies with different metrics", len(e.Conflicts))
}

// Merged is several results directories read as one.
type Merged struct {
	// Experiments are the merged experiments, sorted by name, as Load
	// returns them for one directory.
	Experiments []*Experiment
	// Notes are things worth saying that are not errors.
	Notes []string

	sources []Source
	from    map[string]map[string]string // experiment -> trial id -> directory of the copy taken
	info    map[string]string            // experiment -> directory of the experiment.json taken, or ""
}

// Merge reads several results directories as one, in order of preference.
// Experiments are matched by name; their grids (experiment.json's trials
// and axes) must agree. A trial id found in several directories is one
// trial: its done copies must have the same metrics (results.Diff with no
// tolerance: timings aside), else the merge fails with a
// *ReproducibilityError naming every such trial; the copy taken is the
// first done one, else the first failed one (a failure is an error, not a
// result). A trial no directory finished is unfinished if one holds its
// checkpoints or lock, else not run.
func Merge(srcs []Source) (*Merged, error) {
	m := &Merged{sources: srcs, from: map[string]map[string]string{}, info: map[string]string{}}
	var names []string
	for _, s := range srcs {
		for _, e := range s.Experiments {
			if !slices.Contains(names, e.Name) {
				names = append(names, e.Name)
			}
		}
	}
	slices.Sort(names)
	var conflicts []Conflict
	for _, name := range names {
		e, cs, err := m.merge(name)
		if err != nil {
			return nil, err
		}
		conflicts = append(conflicts, cs...)
		m.Experiments = append(m.Experiments, e)
	}
	if len(conflicts) > 0 {
		return nil, &ReproducibilityError{Conflicts: conflicts}
	}
	return m, nil
}

// copyOf is one directory's copy of a trial.
type copyOf struct {
	dir string
	m   *results.Metrics
}

func (m *Merged) merge(name string) (*Experiment, []Conflict, error) {
	var (
		out        = &Experiment{Name: name}
		gridDir    string
		found      bool
		copies     = map[string][]copyOf{}
		order      []string // trial ids in order of first appearance
		unfinished = map[string]bool{}
	)
	for _, s := range m.sources {
		i := slices.IndexFunc(s.Experiments, func(e *Experiment) bool { return e.Name == name })
		if i < 0 {
			continue
		}
		e := s.Experiments[i]
		switch {
		case len(e.Info.Trials) == 0: // no experiment.json
			if !found {
				out.Info = e.Info
			}
		case gridDir == "":
			gridDir, out.Info = s.Dir, e.Info
			m.info[name] = s.Dir
		case !slices.Equal(e.Info.Trials, out.Info.Trials) || !slices.Equal(e.Info.Axes, out.Info.Axes):
			return nil, nil, fmt.Errorf("experiment %s: %s and %s hold different grids (their %s differ): merge only results of one version of an experiment",
				name, gridDir, s.Dir, results.ExperimentFile)
		}
		found = true
		out.HasBest = out.HasBest || e.HasBest
		for _, t := range e.Trials {
			if !hasConfig(t) {
				unfinished[t.Trial] = unfinished[t.Trial] || t.Status == StatusUnfinished
				continue
			}
			if _, seen := copies[t.Trial]; !seen {
				order = append(order, t.Trial)
			}
			copies[t.Trial] = append(copies[t.Trial], copyOf{s.Dir, t})
		}
		for _, id := range e.Stale {
			if !slices.Contains(out.Stale, id) {
				out.Stale = append(out.Stale, id)
			}
		}
	}

	// One copy of each trial; conflicts between done copies.
	var conflicts []Conflict
	taken := map[string]*results.Metrics{}
	m.from[name] = map[string]string{}
	for _, id := range order {
		cs := copies[id]
		var done []copyOf
		for _, c := range cs {
			if c.m.Status == results.StatusDone {
				done = append(done, c)
			}
		}
		pick := cs[0]
		if len(done) > 0 {
			pick = done[0]
			for _, c := range done[1:] {
				if d := results.Diff(pick.m, c.m, 0); len(d) > 0 {
					conflicts = append(conflicts, Conflict{Experiment: name, Trial: id, Label: pick.m.Label,
						Dirs: [2]string{pick.dir, c.dir}, Diffs: renameDiffs(d, pick.dir, c.dir)})
				}
			}
			for _, c := range cs {
				if c.m.Status != results.StatusDone {
					m.Notes = append(m.Notes, fmt.Sprintf("experiment %s: trial %s failed in %s but is done in %s; the done copy is kept",
						name, id, c.dir, pick.dir))
				}
			}
		}
		taken[id] = pick.m
		m.from[name][id] = pick.dir
	}

	if gridDir == "" {
		// No experiment.json anywhere: the trials found, in grid order.
		for _, id := range order {
			out.Trials = append(out.Trials, taken[id])
		}
		slices.SortFunc(out.Trials, func(a, b *results.Metrics) int {
			if a.Index != b.Index {
				return a.Index - b.Index
			}
			return strings.Compare(a.Trial, b.Trial)
		})
		out.Info.Axes = paramAxes(out.Trials)
		return out, conflicts, nil
	}
	for i, id := range out.Info.Trials {
		t, ok := taken[id]
		if !ok {
			status := StatusNotRun
			if unfinished[id] {
				status = StatusUnfinished
			}
			t = &results.Metrics{Experiment: name, Trial: id, Index: i, Status: status}
		}
		out.Trials = append(out.Trials, t)
	}
	// Stale: trials found that the grid does not have.
	for _, id := range order {
		if !slices.Contains(out.Info.Trials, id) && !slices.Contains(out.Stale, id) {
			out.Stale = append(out.Stale, id)
		}
	}
	return out, conflicts, nil
}

// renameDiffs rewrites results.Diff's "where: committed X, now Y" as
// "where: DIR_A X, DIR_B Y".
func renameDiffs(diffs []string, a, b string) []string {
	out := make([]string, len(diffs))
	for i, d := range diffs {
		d = strings.Replace(d, ": committed ", ": "+a+" ", 1)
		out[i] = strings.Replace(d, ", now ", ", "+b+" ", 1)
	}
	return out
}
