package grid_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/config/strict"
	"github.com/nnx-dev/nnx/pkg/grid"
)

func noEnv(string) string { return "" }

func load(t *testing.T, path string) *config.Loaded {
	t.Helper()
	l, err := config.Load(path, nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func expand(t *testing.T, path string) []grid.Trial {
	t.Helper()
	trials, err := grid.Expand(load(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return trials
}

func ids(trials []grid.Trial) []string {
	out := make([]string, len(trials))
	for i, tr := range trials {
		out[i] = tr.ID
	}
	return out
}

var idRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

const mlpSweep = "../../experiments/mlp-sweep.yaml"

func TestExpandMLPSweep(t *testing.T) {
	l := load(t, mlpSweep)
	if l.Name != "mlp-sweep" {
		t.Errorf("Name = %q", l.Name)
	}
	trials, err := grid.Expand(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 10 {
		t.Fatalf("%d trials, want 10", len(trials))
	}
	widths := []int{16, 32, 64, 128, 256}
	rates := []float64{0.05, 0.1}
	seen := map[string]int{}
	for i, tr := range trials {
		h, lr := widths[i/2], rates[i%2] // the first axis varies slowest
		if tr.Index != i {
			t.Errorf("trial %d: Index %d", i, tr.Index)
		}
		want := l.Base
		want.Model.Hidden = []int{h, h}
		want.Train.LearningRate = lr
		if !reflect.DeepEqual(tr.Config, want) {
			t.Errorf("trial %d: Config\n got %+v\nwant %+v", i, tr.Config, want)
		}
		wantParams := []grid.Param{
			{Path: "model.hidden", Value: fmt.Sprintf("[%d, %d]", h, h)},
			{Path: "train.learning_rate", Value: fmt.Sprint(lr)},
		}
		if !slices.Equal(tr.Params, wantParams) {
			t.Errorf("trial %d: Params %q, want %q", i, tr.Params, wantParams)
		}
		if got, want := tr.Label(), fmt.Sprintf("hidden=%dx%d learning_rate=%g", h, h, lr); got != want {
			t.Errorf("trial %d: Label %q, want %q", i, got, want)
		}
		if !idRE.MatchString(tr.ID) {
			t.Errorf("trial %d: ID %q is not 12 hex digits", i, tr.ID)
		}
		if tr.ID != grid.ID(tr.Config, "", "") {
			t.Errorf("trial %d: ID %q, want ID(Config) %q", i, tr.ID, grid.ID(tr.Config, "", ""))
		}
		if j, dup := seen[tr.ID]; dup {
			t.Errorf("trials %d and %d share ID %s", j, i, tr.ID)
		}
		seen[tr.ID] = i
	}
	// The corners, spelled out.
	for _, c := range []struct {
		i      int
		hidden []int
		lr     float64
		label  string
	}{
		{0, []int{16, 16}, 0.05, "hidden=16x16 learning_rate=0.05"},
		{1, []int{16, 16}, 0.1, "hidden=16x16 learning_rate=0.1"},
		{9, []int{256, 256}, 0.1, "hidden=256x256 learning_rate=0.1"},
	} {
		tr := trials[c.i]
		if !slices.Equal(tr.Config.Model.Hidden, c.hidden) || tr.Config.Train.LearningRate != c.lr || tr.Label() != c.label {
			t.Errorf("trial %d = %v lr %g %q, want %v lr %g %q", c.i,
				tr.Config.Model.Hidden, tr.Config.Train.LearningRate, tr.Label(), c.hidden, c.lr, c.label)
		}
	}
	// The rest of the resolved config comes from the file and its pipeline.
	b := trials[0].Config
	if b.Split.Folds != 3 || b.Train.Epochs != 20 || b.Train.BatchSize != 32 || b.Model.Init != "normal" ||
		b.Seed != 42 || b.Device != "cpu" || b.Split.Holdout != 0.2 || b.Data.Source != "mnist" {
		t.Errorf("trial 0 config %+v", b)
	}

	// IDs are stable across loads.
	if again := ids(expand(t, mlpSweep)); !slices.Equal(again, ids(trials)) {
		t.Errorf("IDs changed between two loads:\n%q\n%q", ids(trials), again)
	}
}

// TestIDIgnoresFormatting: two files that resolve to the same trials, one
// with keys reordered, comments, block lists and other number spellings,
// give the same IDs, params and labels.
func TestIDIgnoresFormatting(t *testing.T) {
	a := expand(t, "testdata/equiv-a.yaml")
	b := expand(t, "testdata/equiv-b.yaml")
	if len(a) != 4 || len(b) != 4 {
		t.Fatalf("%d and %d trials, want 4", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Errorf("trial %d: IDs %s and %s differ\n%+v\n%+v", i, a[i].ID, b[i].ID, a[i].Config, b[i].Config)
		}
		if !slices.Equal(a[i].Params, b[i].Params) || a[i].Label() != b[i].Label() {
			t.Errorf("trial %d: params %q (%s) and %q (%s) differ", i, a[i].Params, a[i].Label(), b[i].Params, b[i].Label())
		}
	}
	if got := a[0].Label(); got != "hidden=16x16 learning_rate=0.05" {
		t.Errorf("Label = %q", got)
	}
	if got := a[2].Label(); got != "hidden=32 learning_rate=0.05" {
		t.Errorf("Label = %q", got)
	}
}

func TestIDChangesWithLearningRate(t *testing.T) {
	a := ids(expand(t, "testdata/equiv-a.yaml"))
	c := ids(expand(t, "testdata/lr-changed.yaml"))
	// Trials 0 and 2 have lr 0.05 in both; 1 and 3 have 0.1 and 0.2.
	for i := range a {
		if same := a[i] == c[i]; same != (i%2 == 0) {
			t.Errorf("trial %d: IDs %s and %s; want them equal only where the rate is", i, a[i], c[i])
		}
	}
}

// TestID: every field of a resolved trial but the data path is part of
// its ID.
func TestID(t *testing.T) {
	base := config.Trial{
		Data:   config.Data{Source: "mnist", Limit: 100},
		Split:  config.Split{Folds: 5, Holdout: 0.2, Test: "official"},
		Model:  config.Model{Hidden: []int{8, 8}, Activation: "relu", Init: "normal"},
		Train:  config.Train{Epochs: 1, BatchSize: 8, Optimizer: "sgd", LearningRate: 0.1},
		Device: "cpu",
		Seed:   1,
	}
	id := grid.ID(base, "", "")
	if !idRE.MatchString(id) {
		t.Fatalf("ID %q is not 12 hex digits", id)
	}
	clone := base
	clone.Model.Hidden = []int{8, 8}
	if grid.ID(clone, "", "") != id {
		t.Error("ID depends on more than the values")
	}
	for name, mod := range map[string]func(*config.Trial){
		"data.source":         func(c *config.Trial) { c.Data.Source = "other" },
		"data.limit":          func(c *config.Trial) { c.Data.Limit = 101 },
		"data.test_limit":     func(c *config.Trial) { c.Data.TestLimit = 1 },
		"split.folds":         func(c *config.Trial) { c.Split.Folds = 4 },
		"split.holdout":       func(c *config.Trial) { c.Split.Holdout = 0.3 },
		"split.test":          func(c *config.Trial) { c.Split.Test = "other" },
		"model.hidden":        func(c *config.Trial) { c.Model.Hidden = []int{8, 9} },
		"model.hidden layers": func(c *config.Trial) { c.Model.Hidden = []int{8, 8, 8} },
		"model.activation":    func(c *config.Trial) { c.Model.Activation = "tanh" },
		"model.init":          func(c *config.Trial) { c.Model.Init = "glorot" },
		"train.epochs":        func(c *config.Trial) { c.Train.Epochs = 2 },
		"train.batch_size":    func(c *config.Trial) { c.Train.BatchSize = 9 },
		"train.optimizer":     func(c *config.Trial) { c.Train.Optimizer = "adam" },
		"train.learning_rate": func(c *config.Trial) { c.Train.LearningRate = 0.1000001 },
		"train.momentum":      func(c *config.Trial) { c.Train.Momentum = 0.5 },
		"device":              func(c *config.Trial) { c.Device = "cuda" },
		"seed":                func(c *config.Trial) { c.Seed = 2 },
	} {
		c := base
		c.Model.Hidden = slices.Clone(base.Model.Hidden)
		mod(&c)
		if grid.ID(c, "", "") == id {
			t.Errorf("changing %s leaves the ID unchanged", name)
		}
	}
	c := base
	c.Data.Path = "/elsewhere"
	if grid.ID(c, "", "") != id {
		t.Error("data.path changes the ID; it is where the data is, not what a trial computes")
	}
}

func TestExpandNoGrid(t *testing.T) {
	l := load(t, "testdata/nogrid.yaml")
	trials, err := grid.Expand(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 1 {
		t.Fatalf("%d trials, want 1", len(trials))
	}
	tr := trials[0]
	if tr.Label() != "base" || len(tr.Params) != 0 || tr.Index != 0 {
		t.Errorf("trial = %+v, label %q", tr, tr.Label())
	}
	if !reflect.DeepEqual(tr.Config, l.Base) || tr.ID != grid.ID(l.Base, "", "") {
		t.Errorf("Config %+v ID %s, want Base %+v ID %s", tr.Config, tr.ID, l.Base, grid.ID(l.Base, "", ""))
	}
	if !slices.Equal(tr.Config.Model.Hidden, []int{64}) || tr.Config.Train.LearningRate != 0.05 || tr.Config.Data.Limit != 1000 {
		t.Errorf("Config %+v", tr.Config)
	}
}

// TestMaxTrials: a grid of exactly MaxTrials trials expands; one more is an
// error at the axis that crosses the limit.
func TestMaxTrials(t *testing.T) {
	if grid.MaxTrials != 10000 {
		t.Fatalf("MaxTrials = %d; update this test", grid.MaxTrials)
	}
	seq := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprint(i + 1)
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("pipeline.yaml", "version: 1\n")
	exp := func(epochs, seeds int) string {
		return fmt.Sprintf("version: 1\npipeline: pipeline.yaml\ngrid:\n  train.epochs: %s\n  seed: %s\n", seq(epochs), seq(seeds))
	}

	ok := write("ok.yaml", exp(100, 100))
	trials, err := grid.Expand(load(t, ok))
	if err != nil {
		t.Fatalf("%d trials: %v", grid.MaxTrials, err)
	}
	if len(trials) != grid.MaxTrials {
		t.Fatalf("%d trials, want %d", len(trials), grid.MaxTrials)
	}
	if last := trials[len(trials)-1]; last.Config.Train.Epochs != 100 || last.Config.Seed != 100 || last.Label() != "epochs=100 seed=100" {
		t.Errorf("last trial %+v %q", last.Config, last.Label())
	}

	big := write("big.yaml", exp(100, 101))
	_, err = grid.Expand(load(t, big))
	want := big + ":5:3: grid: more than 10000 trials; split the experiment"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestExpandLeavesBase: expanding changes neither the loaded Base nor its
// positions, and the trials share no slices with it or with each other.
func TestExpandLeavesBase(t *testing.T) {
	l := load(t, mlpSweep)
	base := l.Base
	base.Model.Hidden = slices.Clone(l.Base.Model.Hidden)
	pos := maps.Clone(l.Pos)
	trials, err := grid.Expand(l)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Base, base) {
		t.Errorf("Base changed:\n got %+v\nwant %+v", l.Base, base)
	}
	if !maps.Equal(l.Pos, pos) {
		t.Error("Pos changed")
	}
	trials[0].Config.Model.Hidden[0] = 999
	if trials[1].Config.Model.Hidden[0] != 16 || l.Base.Model.Hidden[0] == 999 {
		t.Error("trials share a hidden slice with each other or with Base")
	}

	// A grid that does not sweep model.hidden must copy Base's slice too.
	nl := load(t, "testdata/nogrid.yaml")
	tr, err := grid.Expand(nl)
	if err != nil {
		t.Fatal(err)
	}
	tr[0].Config.Model.Hidden[0] = 999
	if nl.Base.Model.Hidden[0] != 64 {
		t.Error("the trial shares its hidden slice with Base")
	}
	// Expanding twice gives the same trials.
	again, err := grid.Expand(l)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(again), ids(trials)) {
		t.Error("a second Expand gave other IDs")
	}
}

// TestExpandErrorsPointAtGridValues builds the Loaded by hand, so the
// positions are those of the grid's value nodes.
func TestExpandErrorsPointAtGridValues(t *testing.T) {
	var doc yaml.Node
	src := "lr: [0.1, -1, 0]\nbatch: [8, 100000]\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	l := load(t, "testdata/nogrid.yaml")
	l.Axes = []config.Axis{
		{Path: "train.learning_rate", Values: m.Content[1].Content, Pos: strict.Pos{File: "g.yaml", Line: 1, Col: 1}},
		{Path: "train.batch_size", Values: m.Content[3].Content, Pos: strict.Pos{File: "g.yaml", Line: 2, Col: 1}},
	}
	_, err := grid.Expand(l)
	want := "g.yaml:1:11: train.learning_rate: must be > 0, got -1\n" +
		"g.yaml:1:15: train.learning_rate: must be > 0, got 0\n" +
		"g.yaml:2:12: train.batch_size: 100000 is larger than the 667 examples of a training fold"
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}

func TestLabel(t *testing.T) {
	for _, tc := range []struct {
		params []grid.Param
		want   string
	}{
		{nil, "base"},
		{[]grid.Param{{"model.hidden", "[128, 128]"}}, "hidden=128x128"},
		{[]grid.Param{{"model.hidden", "[]"}}, "hidden="},
		{[]grid.Param{{"seed", "7"}, {"model.activation", "tanh"}}, "seed=7 activation=tanh"},
		{[]grid.Param{{"train.learning_rate", "1e-3"}, {"model.hidden", "[64, 32, 16]"}}, "learning_rate=1e-3 hidden=64x32x16"},
	} {
		if got := (grid.Trial{Params: tc.params}).Label(); got != tc.want {
			t.Errorf("Label(%q) = %q, want %q", tc.params, got, tc.want)
		}
	}
}

// TestExpandGroups expands the CNN experiment, whose grid is a list of
// mappings: one trial per seed-table row, in file order.
func TestExpandGroups(t *testing.T) {
	trials := expand(t, "../../experiments/cnn.yaml")
	want := []struct {
		label  string
		epochs int
		lr     float64
		folds  int
	}{
		{"epochs=20 learning_rate=0.01 folds=5", 20, 0.01, 5},
		{"epochs=30 learning_rate=0.005 folds=3", 30, 0.005, 3},
		{"epochs=50 learning_rate=0.005 folds=5", 50, 0.005, 5},
	}
	if len(trials) != len(want) {
		t.Fatalf("%d trials, want %d", len(trials), len(want))
	}
	for i, w := range want {
		tr := trials[i]
		c := tr.Config
		if tr.Index != i || tr.Label() != w.label || c.Train.Epochs != w.epochs || c.Train.LearningRate != w.lr || c.Split.Folds != w.folds {
			t.Errorf("trial %d: %d %q epochs %d lr %g folds %d; want %+v", i, tr.Index, tr.Label(), c.Train.Epochs, c.Train.LearningRate, c.Split.Folds, w)
		}
		if len(c.Model.Layers) != 8 || c.Model.Layers[0].Conv2D == nil || c.Model.Layers[0].Conv2D.Filters != 10 {
			t.Errorf("trial %d: layers not resolved: %+v", i, c.Model.Layers)
		}
	}
}
