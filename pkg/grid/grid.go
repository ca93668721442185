// Package grid expands an experiment's grid into trials: the cartesian
// product of its axes in a fixed order, each trial fully resolved, checked
// and named by a stable id.
package grid

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/config/strict"
)

// MaxTrials bounds a grid's size, so a typo cannot ask for a million runs.
const MaxTrials = 10000

// FormatVersion is part of every trial id: it changes when what a trial
// computes from the same config changes.
const FormatVersion = 1

// Trial is one point of the grid.
type Trial struct {
	Index  int     // position in expansion order, from 0
	ID     string  // hash of the resolved config; see ID
	Params []Param // the swept values, in axis order
	Config config.Trial
}

// Param is one swept field's value in a trial.
type Param struct {
	Path  string // dotted field path, e.g. "train.learning_rate"
	Value string // the value as YAML flow text, e.g. "[128, 128]"
}

// Label names the trial by its swept values, e.g. "hidden=128x128 learning_rate=0.05".
func (t Trial) Label() string {
	if len(t.Params) == 0 {
		return "base"
	}
	parts := make([]string, len(t.Params))
	for i, p := range t.Params {
		name := p.Path[strings.LastIndex(p.Path, ".")+1:]
		v := p.Value
		if strings.HasPrefix(v, "[") {
			v = strings.ReplaceAll(strings.Trim(v, "[]"), ", ", "x")
		}
		parts[i] = name + "=" + v
	}
	return strings.Join(parts, " ")
}

// ID is a trial's identity: a short hash of FormatVersion, the fingerprint
// of the data it trains on, the numeric engine (its BLAS: results differ in
// the last bits between them) and its canonical resolved config (JSON with
// a fixed field order, so YAML key order, comments and formatting do not
// matter).
func ID(c config.Trial, data, engine string) string {
	b, err := json.Marshal(c)
	if err != nil {
		// config.Trial holds only plain values; Marshal cannot fail on it.
		return "invalid"
	}
	h := sha256.Sum256(append([]byte(fmt.Sprintf("nnx trial v%d\ndata %s\nengine %s\n", FormatVersion, data, engine)), b...))
	return hex.EncodeToString(h[:])[:12]
}

// Expand returns the trials of an experiment: one per combination of axis
// values, the first axis varying slowest. Every trial is validated; errors
// point at the grid value that caused them. Two trials with the same
// config are an error in the file, but when an override collapsed an axis
// the repeat is dropped.
func Expand(l *config.Loaded) ([]Trial, error) {
	var errs strict.Errors
	seenErr := map[string]bool{}
	seenID := map[string]int{}
	var trials []Trial
	var choiceOf [][]int // per trial: its group's value choices
	var groupOf [][]config.Axis
	for _, axes := range groups(l.Axes) {
		count := 1
		for _, a := range axes {
			count *= len(a.Values)
			if count+len(trials) > MaxTrials {
				return nil, &strict.Error{Pos: a.Pos, Field: "grid",
					Msg: fmt.Sprintf("grid: more than %d trials; split the experiment", MaxTrials)}
			}
		}
		for i := 0; i < count; i++ {
			t := Trial{Index: len(trials), Config: l.Base.Clone()}
			pos := maps.Clone(l.Pos)
			choice := choices(axes, i)
			ok := true
			for a, axis := range axes {
				node := axis.Values[choice[a]]
				if err := strict.SetPath(axis.Pos.File, &t.Config, axis.Path, node, pos); err != nil {
					ok = false
					addErrs(&errs, seenErr, err)
					continue
				}
				t.Params = append(t.Params, Param{Path: axis.Path, Value: flow(node)})
			}
			if !ok {
				continue
			}
			t.Config.DropShorthand(pos)
			for _, e := range config.Validate(t.Config, pos) {
				addErrs(&errs, seenErr, e)
			}
			t.ID = ID(t.Config, l.DataFingerprint, l.Engine)
			if _, dup := seenID[t.ID]; dup && len(l.Collapsed) > 0 {
				continue // an override made this trial repeat an earlier one
			}
			if j, dup := seenID[t.ID]; dup {
				at := axesPos(axes)
				if slicesEqualAxes(groupOf[j], axes) {
					at = repeatedAt(axes, choiceOf[j], choice)
				}
				addErrs(&errs, seenErr, &strict.Error{Pos: at, Field: "grid",
					Msg: fmt.Sprintf("grid: trials %d (%s) and %d (%s) are the same configuration: remove the repeated value",
						j+1, trials[j].Label(), t.Index+1, t.Label())})
			}
			seenID[t.ID] = t.Index
			trials = append(trials, t)
			choiceOf = append(choiceOf, choice)
			groupOf = append(groupOf, axes)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return trials, nil
}

// groups splits the axes by group, in order; no axes is one empty group
// (the base trial).
func groups(axes []config.Axis) [][]config.Axis {
	if len(axes) == 0 {
		return [][]config.Axis{nil}
	}
	var out [][]config.Axis
	for i, a := range axes {
		if i == 0 || a.Group != axes[i-1].Group {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], a)
	}
	return out
}

// axesPos is where a group of axes starts.
func axesPos(axes []config.Axis) strict.Pos {
	if len(axes) == 0 {
		return strict.Pos{}
	}
	return axes[0].Pos
}

func slicesEqualAxes(a, b []config.Axis) bool {
	return len(a) > 0 && len(b) > 0 && a[0].Pos == b[0].Pos
}

// choices returns the index into each axis's values of trial i, the first
// axis varying slowest.
func choices(axes []config.Axis, i int) []int {
	choice := make([]int, len(axes))
	for a := len(axes) - 1; a >= 0; a-- {
		choice[a] = i % len(axes[a].Values)
		i /= len(axes[a].Values)
	}
	return choice
}

// repeatedAt is the position of the repeated grid value that makes trial
// choice b the same configuration as the earlier trial a: b's value on the
// first axis where the two differ.
func repeatedAt(axes []config.Axis, a, b []int) strict.Pos {
	for x := range axes {
		if a[x] != b[x] {
			n := axes[x].Values[b[x]]
			return strict.Pos{File: axes[x].Pos.File, Line: n.Line, Col: n.Column}
		}
	}
	return axes[0].Pos
}

func addErrs(errs *strict.Errors, seen map[string]bool, err error) {
	var list strict.Errors
	switch e := err.(type) {
	case strict.Errors:
		list = e
	case *strict.Error:
		list = strict.Errors{e}
	default:
		list = strict.Errors{{Msg: err.Error()}}
	}
	for _, e := range list {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			*errs = append(*errs, e)
		}
	}
}

// flow renders a value node as one line of YAML.
func flow(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.SequenceNode:
		parts := make([]string, len(n.Content))
		for i, c := range n.Content {
			parts[i] = flow(c)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case yaml.MappingNode:
		parts := make([]string, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, flow(n.Content[i])+": "+flow(n.Content[i+1]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return n.Value
}
