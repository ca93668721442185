package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/nnx-dev/nnx/pkg/config/strict"
)

// Precedence documents where a field's value comes from, highest first. It
// is printed by `nnx run --help`.
const Precedence = `A field's value comes from, highest first:
  1. --set key=value (repeatable; e.g. --set train.epochs=2)
  2. NNX_<KEY> environment variables, dots as underscores (NNX_TRAIN_EPOCHS=2)
  3. the experiment file
  4. the pipeline file it names
  5. nnx's defaults
A --set or NNX_ key that a grid sweeps replaces that grid axis with its one value.`

// Loaded is an experiment read, merged and checked, ready to expand.
type Loaded struct {
	Name         string // the experiment's name: its name field, else the file's base name
	File         string // the experiment file
	PipelineFile string
	Base         Trial    // every field resolved, before the grid
	Outputs      Outputs  // where results go
	Report       Report   // how nnx report shows it
	Axes         []Axis   // the grid, in file order
	Collapsed    []string // grid fields an override set to one value
	// DataFingerprint identifies the data the trials train on; callers that
	// have loaded it set it before expanding the grid (it is part of every
	// trial id).
	DataFingerprint string
	// Engine names the numeric engine that trains (engine.BLAS), also part
	// of every trial id; set by the caller.
	Engine string
	Pos    strict.Positions
}

// Axis is one swept field: a dotted path and the values it takes. A grid
// written as a list of mappings has one group of axes per mapping; a plain
// mapping is group 0.
type Axis struct {
	Path   string
	Values []*yaml.Node
	Pos    strict.Pos
	Group  int
}

// Load reads the experiment file and the pipeline it names, applies
// overrides, and checks every value. env looks up environment variables
// (os.Getenv in the binary).
func Load(path string, set []string, env func(string) string) (*Loaded, error) {
	pos := strict.Positions{}
	root, err := parseFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(path, root); err != nil {
		return nil, err
	}
	exp := Defaults()
	pipeRel, pipePos := scalarField(root, "pipeline")
	if pipeRel == "" {
		return nil, &strict.Error{Pos: strict.Pos{File: path, Line: root.Line, Col: root.Column}, Field: "pipeline",
			Msg: `missing field "pipeline" (e.g. pipeline: ../pipelines/mnist.yaml)`}
	}
	pipeFile := filepath.Join(filepath.Dir(path), pipeRel)
	pipe, err := loadPipeline(pipeFile, exp, pos)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, &strict.Error{Pos: strict.Pos{File: path, Line: pipePos.Line, Col: pipePos.Column}, Field: "pipeline",
				Msg: fmt.Sprintf("pipeline %q not found (looked for %s, relative to the experiment file)", pipeRel, pipeFile)}
		}
		return nil, err
	}
	exp.Data, exp.Split, exp.Outputs, exp.Report = pipe.Data, pipe.Split, pipe.Outputs, pipe.Report
	if err := strict.Decode(path, root, &exp, pos); err != nil {
		return nil, err
	}
	l := &Loaded{File: path, PipelineFile: pipeFile, Pos: pos}
	if l.Axes, err = parseGrid(path, &exp.Grid); err != nil {
		return nil, err
	}
	if l.Axes, l.Collapsed, err = applyOverrides(&exp, l.Axes, set, env, pos); err != nil {
		return nil, err
	}
	// After the overrides: --set name=... and NNX_NAME name the experiment too.
	l.Name = exp.Name
	if l.Name == "" {
		l.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	l.Base, l.Outputs, l.Report = exp.trial(), exp.Outputs, exp.Report
	if err := validateReport(exp.Report, pos); err != nil {
		return nil, err
	}
	l.Base.DropShorthand(pos)
	if err := strict.Errors(Validate(l.Base, pos)).Err(); err != nil {
		// With a grid, a swept field is checked per trial; report only base
		// errors in fields the grid does not replace.
		var left strict.Errors
		for _, e := range err.(strict.Errors) {
			if !l.swept(e.Field) {
				left = append(left, e)
			}
		}
		if err := left.Err(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// swept reports whether a grid axis sets the field (or a parent of it).
func (l *Loaded) swept(field string) bool {
	for _, a := range l.Axes {
		if field == a.Path || strings.HasPrefix(field, a.Path+"[") || strings.HasPrefix(field, a.Path+".") {
			return true
		}
	}
	return false
}

func parseFile(path string) (*yaml.Node, error) {
	root, err := strict.ParseFile(path)
	if err != nil {
		return nil, err
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, &strict.Error{Pos: strict.Pos{File: path}, Msg: "expected a mapping of fields (version: 1, ...)"}
	}
	return root, nil
}

// checkVersion insists on version: 1 before anything else is read, so a
// future format is never half-understood.
func checkVersion(path string, root *yaml.Node) error {
	v, n := scalarField(root, "version")
	switch {
	case n == nil:
		return &strict.Error{Pos: strict.Pos{File: path, Line: root.Line, Col: root.Column}, Field: "version",
			Msg: fmt.Sprintf(`missing field "version" (add "version: %d" at the top)`, Version)}
	case v != fmt.Sprint(Version):
		return &strict.Error{Pos: strict.Pos{File: path, Line: n.Line, Col: n.Column}, Field: "version",
			Msg: fmt.Sprintf("version %s is not supported (this nnx reads version %d)", v, Version)}
	}
	return nil
}

// scalarField finds a top-level scalar by key.
func scalarField(root *yaml.Node, key string) (string, *yaml.Node) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key && root.Content[i+1].Kind == yaml.ScalarNode {
			return root.Content[i+1].Value, root.Content[i+1]
		}
	}
	return "", nil
}

func loadPipeline(path string, def Experiment, pos strict.Positions) (*Pipeline, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	root, err := parseFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(path, root); err != nil {
		return nil, err
	}
	p := &Pipeline{Data: def.Data, Split: def.Split, Outputs: def.Outputs, Report: def.Report}
	if err := strict.Decode(path, root, p, pos); err != nil {
		return nil, err
	}
	return p, nil
}

// gridPaths are the fields a grid may sweep and an override may set.
func gridPaths() []string {
	return strict.Paths(reflect.TypeOf(Trial{}))
}

// overridePaths are the fields --set and NNX_* may set.
func overridePaths() []string {
	return append(gridPaths(), "name", "outputs.dir")
}

// parseGrid reads the grid: a mapping of field paths to lists (their
// cartesian product), or a list of such mappings (the union of their
// products, in order).
func parseGrid(file string, g *yaml.Node) ([]Axis, error) {
	if g.Kind == 0 || g.Tag == "!!null" {
		return nil, nil
	}
	if g.Kind == yaml.SequenceNode {
		if len(g.Content) == 0 {
			return nil, &strict.Error{Pos: strict.Pos{File: file, Line: g.Line, Col: g.Column}, Field: "grid",
				Msg: "grid: empty list: give at least one mapping of field paths to lists of values"}
		}
		var all []Axis
		var errs strict.Errors
		for i, item := range g.Content {
			if item.Kind != yaml.MappingNode {
				return nil, &strict.Error{Pos: strict.Pos{File: file, Line: item.Line, Col: item.Column}, Field: "grid",
					Msg: fmt.Sprintf("grid[%d]: expected a mapping of field paths to lists of values, e.g. {train.epochs: [20]}", i)}
			}
			axes, err := parseAxes(file, item, i)
			if err != nil {
				errs = append(errs, err.(strict.Errors)...)
			}
			all = append(all, axes...)
		}
		return all, errs.Err()
	}
	axes, err := parseAxes(file, g, 0)
	if err != nil {
		return nil, err
	}
	return axes, nil
}

// parseAxes reads one mapping of field paths to lists of values.
func parseAxes(file string, g *yaml.Node, group int) ([]Axis, error) {
	if g.Kind != yaml.MappingNode {
		return nil, strict.Errors{{Pos: strict.Pos{File: file, Line: g.Line, Col: g.Column}, Field: "grid",
			Msg: "grid: expected a mapping of field paths to lists of values (or a list of such mappings)"}}
	}
	valid := gridPaths()
	var errs strict.Errors
	var axes []Axis
	seen := map[string]int{}
	for i := 0; i+1 < len(g.Content); i += 2 {
		k, v := g.Content[i], g.Content[i+1]
		at := strict.Pos{File: file, Line: k.Line, Col: k.Column}
		if !slices.Contains(valid, k.Value) {
			msg := fmt.Sprintf("grid: %q names no field", k.Value)
			if s := strict.Suggest(k.Value, valid); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, &strict.Error{Pos: at, Field: "grid." + k.Value, Msg: msg})
			continue
		}
		if first, dup := seen[k.Value]; dup {
			errs = append(errs, &strict.Error{Pos: at, Field: "grid." + k.Value,
				Msg: fmt.Sprintf("grid: duplicate axis %q (first at line %d)", k.Value, first)})
			continue
		}
		seen[k.Value] = k.Line
		for v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if v.Kind != yaml.SequenceNode {
			errs = append(errs, &strict.Error{Pos: strict.Pos{File: file, Line: v.Line, Col: v.Column}, Field: "grid." + k.Value,
				Msg: fmt.Sprintf("grid.%s: expected a list of values, e.g. [0.05, 0.1]", k.Value)})
			continue
		}
		if len(v.Content) == 0 {
			errs = append(errs, &strict.Error{Pos: strict.Pos{File: file, Line: v.Line, Col: v.Column}, Field: "grid." + k.Value,
				Msg: fmt.Sprintf("grid.%s: empty list: give at least one value", k.Value)})
			continue
		}
		axes = append(axes, Axis{Path: k.Value, Values: v.Content, Pos: at, Group: group})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return axes, nil
}

// applyOverrides applies --set and NNX_* values through viper, in the order
// Precedence gives, and drops the grid axes they replace.
func applyOverrides(exp *Experiment, axes []Axis, set []string, env func(string) string, pos strict.Positions) (_ []Axis, collapsed []string, _ error) {
	v := viper.New()
	valid := overridePaths()
	flagged := map[string]string{}
	var errs strict.Errors
	for _, kv := range set {
		k, val, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		src := strict.Pos{File: "--set " + kv}
		if !ok || k == "" {
			errs = append(errs, &strict.Error{Pos: src, Msg: "expected key=value, e.g. --set train.epochs=2"})
			continue
		}
		if !slices.Contains(valid, k) {
			msg := fmt.Sprintf("unknown field %q", k)
			if s := strict.Suggest(k, valid); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, &strict.Error{Pos: src, Field: k, Msg: msg})
			continue
		}
		v.Set(k, val)
		flagged[k] = kv
	}
	if err := errs.Err(); err != nil {
		return nil, nil, err
	}
	// Environment variables go through viper's own lookup, with env as the
	// source so tests need not touch the process environment.
	v.SetEnvPrefix("NNX")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, k := range valid {
		name := "NNX_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
		if _, isFlag := flagged[k]; !isFlag && env(name) != "" {
			v.SetDefault(k, env(name)) // below Set, above nothing: the file is applied separately
		}
	}
	for _, k := range valid {
		if !v.IsSet(k) {
			continue
		}
		src := "$NNX_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
		if kv, ok := flagged[k]; ok {
			src = "--set " + kv
		}
		node, err := scalarNode(v.GetString(k))
		if err != nil {
			errs = append(errs, &strict.Error{Pos: strict.Pos{File: src}, Field: k, Msg: fmt.Sprintf("%s: %v", k, err)})
			continue
		}
		if err := strict.SetPath(src, exp, k, node, pos); err != nil {
			if es, ok := err.(strict.Errors); ok {
				errs = append(errs, es...)
			} else {
				errs = append(errs, &strict.Error{Pos: strict.Pos{File: src}, Field: k, Msg: err.Error()})
			}
			continue
		}
		before := len(axes)
		if axes = slices.DeleteFunc(axes, func(a Axis) bool { return a.Path == k }); len(axes) != before {
			collapsed = append(collapsed, k)
		}
	}
	return axes, collapsed, errs.Err()
}

// scalarNode parses an override's text as YAML (so [64,64] is a list) and
// strips positions, which would point into the flag rather than a file.
func scalarNode(text string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("cannot parse %q as a YAML value", text)
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}, nil
	}
	n := doc.Content[0]
	var strip func(*yaml.Node)
	strip = func(n *yaml.Node) {
		n.Line, n.Column = 0, 0
		for _, c := range n.Content {
			strip(c)
		}
	}
	strip(n)
	return n, nil
}

// validateReport checks the report section's column keys.
func validateReport(r Report, pos strict.Positions) error {
	var errs strict.Errors
	valid := ReportColumns()
	for i, c := range r.Columns {
		if slices.Contains(valid, c) {
			continue
		}
		field := fmt.Sprintf("report.columns[%d]", i)
		p, _ := pos.Lookup(field)
		msg := fmt.Sprintf("%s: unknown column %q", field, c)
		if s := strict.Suggest(c, valid); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += fmt.Sprintf(" (valid: %s)", strings.Join(valid, ", "))
		}
		errs = append(errs, &strict.Error{Pos: p, Field: field, Msg: msg})
	}
	return errs.Err()
}
