package config_test

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/config/strict"
	"github.com/nnx-dev/nnx/pkg/grid"
)

// envOf returns an env func that looks names up in m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// axisPaths lists the paths of l's grid axes.
func axisPaths(l *config.Loaded) []string {
	var out []string
	for _, a := range l.Axes {
		out = append(out, a.Path)
	}
	return out
}

const overridesExp = "testdata/overrides/experiment.yaml"

// overridesBase is the Base of testdata/overrides/experiment.yaml with no
// overrides: experiment over pipeline over defaults.
func overridesBase() config.Trial {
	return config.Trial{
		Data:   config.Data{Source: "mnist", Limit: 1000},                               // limit: pipeline
		Split:  config.Split{Folds: 3, Holdout: 0.3, Test: "official"},                  // folds: experiment over pipeline's 4
		Model:  config.Model{Hidden: []int{32, 32}, Activation: "tanh", Init: "normal"}, // init: default
		Train:  config.Train{Epochs: 20, BatchSize: 32, Optimizer: "sgd", LearningRate: 0.05, Momentum: 0.9, Schedule: "constant", StepSize: 10, Gamma: 0.1, EarlyStopping: config.EarlyStopping{Metric: "val_accuracy"}},
		Device: "cpu",
		Seed:   7,
	}
}

func TestOverrides(t *testing.T) {
	bothAxes := []string{"model.hidden", "train.learning_rate"}
	for _, tc := range []struct {
		name    string
		set     []string
		env     map[string]string
		want    func(*config.Trial) // applied to overridesBase()
		axes    []string
		exName  string // Loaded.Name, default "experiment"
		outDir  string // Loaded.Outputs.Dir, default "pipe-results"
		posOf   string // a field whose position is checked...
		wantPos strict.Pos
	}{
		{name: "none", axes: bothAxes},
		{
			name: "env beats experiment",
			env:  map[string]string{"NNX_TRAIN_EPOCHS": "7"},
			want: func(c *config.Trial) { c.Train.Epochs = 7 },
			axes: bothAxes, posOf: "train.epochs", wantPos: strict.Pos{File: "$NNX_TRAIN_EPOCHS"},
		},
		{
			name: "set beats env",
			set:  []string{"train.epochs=2"},
			env:  map[string]string{"NNX_TRAIN_EPOCHS": "7"},
			want: func(c *config.Trial) { c.Train.Epochs = 2 },
			axes: bothAxes, posOf: "train.epochs", wantPos: strict.Pos{File: "--set train.epochs=2"},
		},
		{
			name: "last set wins",
			set:  []string{"train.epochs=2", "train.epochs=3"},
			want: func(c *config.Trial) { c.Train.Epochs = 3 },
			axes: bothAxes, posOf: "train.epochs", wantPos: strict.Pos{File: "--set train.epochs=3"},
		},
		{
			name: "env beats experiment over pipeline",
			env:  map[string]string{"NNX_SPLIT_FOLDS": "5"},
			want: func(c *config.Trial) { c.Split.Folds = 5 },
			axes: bothAxes,
		},
		{
			name: "env beats pipeline",
			env:  map[string]string{"NNX_DATA_LIMIT": "500", "NNX_SPLIT_HOLDOUT": "0.25"},
			want: func(c *config.Trial) { c.Data.Limit, c.Split.Holdout = 500, 0.25 },
			axes: bothAxes, posOf: "data.limit", wantPos: strict.Pos{File: "$NNX_DATA_LIMIT"},
		},
		{
			name: "set beats defaults",
			set:  []string{"data.test_limit=100", "train.optimizer=adam", "device=auto", "seed=99"},
			want: func(c *config.Trial) {
				c.Data.TestLimit, c.Train.Optimizer, c.Device, c.Seed = 100, "adam", "auto", 99
			},
			axes: bothAxes,
		},
		{
			name: "empty env value is unset",
			env:  map[string]string{"NNX_TRAIN_EPOCHS": ""},
			axes: bothAxes,
		},
		{
			name: "unknown env names are ignored",
			env:  map[string]string{"NNX_TRAIN_EPOCH": "ten", "NNX_FOO": "1"},
			axes: bothAxes,
		},
		{
			name: "set of a swept key drops its axis",
			set:  []string{"train.learning_rate=0.2"},
			want: func(c *config.Trial) { c.Train.LearningRate = 0.2 },
			axes: []string{"model.hidden"},
		},
		{
			name: "env of a swept key drops its axis",
			env:  map[string]string{"NNX_MODEL_HIDDEN": "[8, 8, 8]"},
			want: func(c *config.Trial) { c.Model.Hidden = []int{8, 8, 8} },
			axes: []string{"train.learning_rate"},
		},
		{
			name: "set of a list",
			set:  []string{"model.hidden=[64,64]"},
			want: func(c *config.Trial) { c.Model.Hidden = []int{64, 64} },
			axes: []string{"train.learning_rate"}, posOf: "model.hidden[1]", wantPos: strict.Pos{File: "--set model.hidden=[64,64]"},
		},
		{
			name: "set of both axes leaves no grid",
			set:  []string{"model.hidden=[10]", "train.learning_rate=1e-3"},
			want: func(c *config.Trial) { c.Model.Hidden, c.Train.LearningRate = []int{10}, 0.001 },
		},
		{
			name:   "set name and outputs.dir",
			set:    []string{"name=renamed", "outputs.dir=elsewhere"},
			axes:   bothAxes,
			exName: "renamed", outDir: "elsewhere",
		},
		{
			name:   "env name",
			env:    map[string]string{"NNX_NAME": "from-env", "NNX_OUTPUTS_DIR": "env-out"},
			axes:   bothAxes,
			exName: "from-env", outDir: "env-out",
		},
		{
			name:   "value containing =",
			set:    []string{"name=a=b"},
			axes:   bothAxes,
			exName: "a=b",
		},
		{
			name: "spaces around key and value",
			set:  []string{" train.optimizer = adam"},
			want: func(c *config.Trial) { c.Train.Optimizer = "adam" },
			axes: bothAxes,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := config.Load(overridesExp, tc.set, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			want := overridesBase()
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(l.Base, want) {
				t.Errorf("Base\n got %+v\nwant %+v", l.Base, want)
			}
			if got := axisPaths(l); !slices.Equal(got, tc.axes) {
				t.Errorf("axes = %q, want %q", got, tc.axes)
			}
			if want := cmpOr(tc.exName, "experiment"); l.Name != want {
				t.Errorf("Name = %q, want %q", l.Name, want)
			}
			if want := cmpOr(tc.outDir, "pipe-results"); l.Outputs.Dir != want {
				t.Errorf("Outputs.Dir = %q, want %q", l.Outputs.Dir, want)
			}
			if tc.posOf != "" {
				if got := l.Pos[tc.posOf]; got != tc.wantPos {
					t.Errorf("Pos[%q] = %+v, want %+v", tc.posOf, got, tc.wantPos)
				}
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestOverrideErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		env  map[string]string
		want string
	}{
		{
			name: "unknown set key",
			set:  []string{"train.epoch=3"},
			want: `--set train.epoch=3: unknown field "train.epoch" (did you mean "train.epochs"?)`,
		},
		{
			name: "set key without a close suggestion",
			set:  []string{"pipeline=x.yaml"},
			want: `--set pipeline=x.yaml: unknown field "pipeline"`,
		},
		{
			name: "malformed set",
			set:  []string{"foo"},
			want: `--set foo: expected key=value, e.g. --set train.epochs=2`,
		},
		{
			name: "set with an empty key",
			set:  []string{"=3"},
			want: `--set =3: expected key=value, e.g. --set train.epochs=2`,
		},
		{
			name: "several bad sets",
			set:  []string{"foo", "train.epoch=3"},
			want: "--set foo: expected key=value, e.g. --set train.epochs=2\n" +
				`--set train.epoch=3: unknown field "train.epoch" (did you mean "train.epochs"?)`,
		},
		{
			name: "env of the wrong type",
			env:  map[string]string{"NNX_TRAIN_EPOCHS": "ten"},
			want: `$NNX_TRAIN_EPOCHS: train.epochs: expected an integer, got "ten"`,
		},
		{
			name: "set of the wrong type",
			set:  []string{"model.hidden=64"},
			want: `--set model.hidden=64: model.hidden: expected a list, got "64"`,
		},
		{
			name: "set of a bad list element",
			set:  []string{"model.hidden=[64, x]"},
			want: `--set model.hidden=[64, x]: model.hidden[1]: expected an integer, got "x"`,
		},
		{
			name: "set that is not YAML",
			set:  []string{"model.hidden=[64"},
			want: `--set model.hidden=[64: model.hidden: cannot parse "[64" as a YAML value`,
		},
		{
			name: "set of a swept key to a bad value",
			set:  []string{"train.learning_rate=0"},
			want: `--set train.learning_rate=0: train.learning_rate: must be > 0, got 0`,
		},
		{
			name: "env out of range",
			env:  map[string]string{"NNX_TRAIN_MOMENTUM": "1"},
			want: `$NNX_TRAIN_MOMENTUM: train.momentum: must be in [0, 1), got 1`,
		},
		{
			name: "set bad value beats good env",
			set:  []string{"train.epochs=0"},
			env:  map[string]string{"NNX_TRAIN_EPOCHS": "5"},
			want: `--set train.epochs=0: train.epochs: must be at least 1, got 0`,
		},
		{
			name: "good set beats bad env",
			set:  []string{"train.epochs=5"},
			env:  map[string]string{"NNX_TRAIN_EPOCHS": "ten"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(overridesExp, tc.set, envOf(tc.env))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && err.Error() != tc.want:
				t.Errorf("error\n got %q\nwant %q", err, tc.want)
			}
		})
	}
}

// TestEnvLookups checks that Load asks env for NNX_ names only, among them
// the dotted paths with underscores.
func TestEnvLookups(t *testing.T) {
	var asked []string
	_, err := config.Load(overridesExp, nil, func(k string) string {
		asked = append(asked, k)
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NNX_TRAIN_LEARNING_RATE", "NNX_MODEL_HIDDEN", "NNX_DATA_TEST_LIMIT", "NNX_SEED", "NNX_NAME", "NNX_OUTPUTS_DIR"} {
		if !slices.Contains(asked, want) {
			t.Errorf("env was not asked for %s (asked %q)", want, asked)
		}
	}
	for _, k := range asked {
		if !strings.HasPrefix(k, "NNX_") || strings.ContainsAny(k, ".abcdefghijklmnopqrstuvwxyz") {
			t.Errorf("env asked for %q", k)
		}
	}
}

func TestDefaults(t *testing.T) {
	l, err := config.Load("testdata/defaults/experiment.yaml", nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Trial{
		Data:   config.Data{Source: "mnist"},
		Split:  config.Split{Folds: 5, Holdout: 0.2, Test: "official"},
		Model:  config.Model{Hidden: []int{128, 128}, Activation: "relu", Init: "normal"},
		Train:  config.Train{Epochs: 10, BatchSize: 32, Optimizer: "sgd", LearningRate: 0.01, Schedule: "constant", StepSize: 10, Gamma: 0.1, EarlyStopping: config.EarlyStopping{Metric: "val_accuracy"}},
		Device: "cpu",
		Seed:   42,
	}
	if !reflect.DeepEqual(l.Base, want) {
		t.Errorf("Base\n got %+v\nwant %+v", l.Base, want)
	}
	if l.Outputs.Dir != "results" {
		t.Errorf("Outputs.Dir = %q, want results", l.Outputs.Dir)
	}
	if len(l.Axes) != 0 {
		t.Errorf("Axes = %v, want none", axisPaths(l))
	}
	if errs := config.Validate(config.TrialOf(config.Defaults()), nil); len(errs) != 0 {
		t.Errorf("the defaults do not validate: %v", strict.Errors(errs))
	}
	// Defaults returns a fresh value each time.
	d := config.Defaults()
	d.Model.Hidden[0] = 1
	if config.Defaults().Model.Hidden[0] != 128 {
		t.Error("Defaults shares its hidden slice between calls")
	}
}

func TestMerge(t *testing.T) {
	path := filepath.Join("testdata", "merge", "my-exp.yaml")
	l, err := config.Load(path, nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	pipe := filepath.Join("testdata", "merge", "pipeline.yaml")
	if l.File != path || l.PipelineFile != pipe {
		t.Errorf("File, PipelineFile = %q, %q; want %q, %q", l.File, l.PipelineFile, path, pipe)
	}
	if l.Name != "my-exp" {
		t.Errorf("Name = %q, want the file's base name my-exp", l.Name)
	}
	// Pipeline-only fields survive; the experiment's fields win.
	if l.Base.Data.Limit != 1000 || l.Base.Data.TestLimit != 500 || l.Base.Split.Holdout != 0.3 {
		t.Errorf("pipeline fields lost: Data %+v, Split %+v", l.Base.Data, l.Base.Split)
	}
	if l.Base.Split.Folds != 2 || l.Base.Train.Epochs != 3 {
		t.Errorf("experiment fields lost: Split %+v, Train %+v", l.Base.Split, l.Base.Train)
	}
	// Positions name the file that last set each field.
	for field, want := range map[string]strict.Pos{
		"data.limit":    {File: pipe, Line: 4, Col: 10},
		"split.holdout": {File: pipe, Line: 8, Col: 12},
		"split.folds":   {File: path, Line: 4, Col: 10},
		"train.epochs":  {File: path, Line: 6, Col: 11},
		"split":         {File: path, Line: 3, Col: 1},
		"data":          {File: pipe, Line: 3, Col: 1},
	} {
		if got, ok := l.Pos[field]; !ok || got != want {
			t.Errorf("Pos[%q] = %+v, %v; want %+v", field, got, ok, want)
		}
	}
	// A field only the defaults set has no position of its own; Lookup
	// falls back to its section.
	if p, ok := l.Pos["train.optimizer"]; ok {
		t.Errorf("Pos[train.optimizer] = %+v, want none", p)
	}
	if got, _ := l.Pos.Lookup("train.optimizer"); got != (strict.Pos{File: path, Line: 5, Col: 1}) {
		t.Errorf("Lookup(train.optimizer) = %+v, want the experiment's train key", got)
	}

	named, err := config.Load(filepath.Join("testdata", "merge", "named.yaml"), nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if named.Name != "custom" {
		t.Errorf("Name = %q, want the name field custom", named.Name)
	}
	if named.Base.Split.Folds != 4 {
		t.Errorf("Split.Folds = %d, want the pipeline's 4", named.Base.Split.Folds)
	}
}

// writeFiles writes name -> content into a new temporary directory and
// returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSweptBaseErrors: a bad base value in a field the grid sweeps is not an
// error, since every trial replaces it; one in a field it does not sweep is.
func TestSweptBaseErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"pipeline.yaml": "version: 1\n",
		"swept.yaml": `version: 1
pipeline: pipeline.yaml
model:
  hidden: [0]
train:
  learning_rate: 0
grid:
  model.hidden: [[16], [32]]
  train.learning_rate: [0.1]
`,
		"unswept.yaml": `version: 1
pipeline: pipeline.yaml
train:
  learning_rate: 0
grid:
  model.hidden: [[16], [32]]
`,
	})
	l, err := config.Load(filepath.Join(dir, "swept.yaml"), nil, noEnv)
	if err != nil {
		t.Fatalf("swept: %v", err)
	}
	trials, err := grid.Expand(l)
	if err != nil {
		t.Fatalf("swept: Expand: %v", err)
	}
	if len(trials) != 2 || trials[0].Config.Train.LearningRate != 0.1 {
		t.Errorf("swept: trials = %+v", trials)
	}
	unswept := filepath.Join(dir, "unswept.yaml")
	_, err = config.Load(unswept, nil, noEnv)
	if want := unswept + ":4:18: train.learning_rate: must be > 0, got 0"; err == nil || err.Error() != want {
		t.Errorf("unswept: error %v, want %q", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("testdata/nosuch.yaml", nil, noEnv)
	if !os.IsNotExist(err) {
		t.Errorf("error %v, want a not-exist error", err)
	}
}

func TestValidate(t *testing.T) {
	base := func() config.Trial {
		return config.Trial{
			Data:   config.Data{Source: "mnist", Limit: 100},
			Split:  config.Split{Folds: 5, Holdout: 0.2, Test: "official"},
			Model:  config.Model{Hidden: []int{8}, Activation: "relu", Init: "glorot"},
			Train:  config.Train{Epochs: 1, BatchSize: 80, Optimizer: "adam", LearningRate: 0.1, Momentum: 0.999},
			Device: "cuda",
		}
	}
	for _, tc := range []struct {
		name string
		mod  func(*config.Trial)
		want []string // "field: message"
	}{
		{name: "valid at the edges", mod: func(*config.Trial) {}},
		{name: "all data", mod: func(c *config.Trial) { c.Data.Limit, c.Data.TestLimit, c.Train.BatchSize = 60000, 10000, 48000 }},
		{name: "limit too large", mod: func(c *config.Trial) { c.Data.Limit = 60001 },
			want: []string{"data.limit: must be between 0 (all) and 60000, got 60001"}},
		{name: "test limit negative", mod: func(c *config.Trial) { c.Data.TestLimit = -1 },
			want: []string{"data.test_limit: must be between 0 (all) and 10000, got -1"}},
		{name: "batch one over the fold", mod: func(c *config.Trial) { c.Train.BatchSize = 81 },
			want: []string{"train.batch_size: 81 is larger than the 80 examples of a training fold"}},
		{name: "fold size rounds down", mod: func(c *config.Trial) { c.Data.Limit, c.Split.Folds, c.Train.BatchSize = 10, 3, 8 },
			want: []string{"train.batch_size: 8 is larger than the 7 examples of a training fold"}},
		{name: "holdout fold", mod: func(c *config.Trial) { c.Split.Folds, c.Split.Holdout, c.Train.BatchSize = 1, 0.25, 76 },
			want: []string{"train.batch_size: 76 is larger than the 75 examples of a training fold"}},
		{name: "as many folds as examples", mod: func(c *config.Trial) { c.Split.Folds, c.Train.BatchSize = 100, 99 }},
		{name: "more folds than examples", mod: func(c *config.Trial) { c.Split.Folds = 101 },
			want: []string{"split.folds: 101 folds need at least 101 training examples, the data has 100"}},
		{name: "holdout 0", mod: func(c *config.Trial) { c.Split.Folds, c.Split.Holdout = 1, 0 },
			want: []string{"split.holdout: must be between 0 and 1 (exclusive) with one fold, got 0"}},
		{name: "holdout ignored with folds", mod: func(c *config.Trial) { c.Split.Holdout = 7 }},
		{name: "batch 0", mod: func(c *config.Trial) { c.Train.BatchSize = 0 },
			want: []string{"train.batch_size: must be at least 1, got 0"}},
		{name: "epochs 0", mod: func(c *config.Trial) { c.Train.Epochs = 0 },
			want: []string{"train.epochs: must be at least 1, got 0"}},
		{name: "infinite rate", mod: func(c *config.Trial) { c.Train.LearningRate = math.Inf(1) },
			want: []string{"train.learning_rate: must be > 0, got +Inf"}},
		{name: "NaN rate and momentum", mod: func(c *config.Trial) { c.Train.LearningRate, c.Train.Momentum = math.NaN(), math.NaN() },
			want: []string{"train.learning_rate: must be > 0, got NaN", "train.momentum: must be in [0, 1), got NaN"}},
		{name: "negative momentum", mod: func(c *config.Trial) { c.Train.Momentum = -0.1 },
			want: []string{"train.momentum: must be in [0, 1), got -0.1"}},
		{name: "bad enums", mod: func(c *config.Trial) {
			c.Data.Source, c.Split.Test, c.Model.Init, c.Train.Optimizer = "cifar", "mine", "xavier", "adma"
		}, want: []string{
			`data.source: unknown value "cifar" (valid: mnist)`,
			`split.test: unknown value "mine" (valid: official)`,
			`model.init: unknown value "xavier" (valid: normal, glorot, he, pytorch)`,
			`train.optimizer: unknown value "adma" (did you mean "adam"?)`,
		}},
		{name: "layers", mod: func(c *config.Trial) { c.Model.Hidden = []int{4, 0, -1} },
			want: []string{"model.hidden[1]: a layer needs at least 1 unit, got 0", "model.hidden[2]: a layer needs at least 1 unit, got -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			var got []string
			for _, e := range config.Validate(c, nil) {
				if !strings.HasPrefix(e.Msg, e.Field+": ") {
					t.Errorf("message %q does not start with its field %q", e.Msg, e.Field)
				}
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestValidatePositions: Validate places each error at the recorded
// position of its field, or of the field's closest recorded parent.
func TestValidatePositions(t *testing.T) {
	c := config.TrialOf(config.Defaults())
	c.Model.Hidden = []int{8, 0}
	c.Train.Epochs = 0
	pos := strict.Positions{
		"model.hidden": {File: "a.yaml", Line: 3, Col: 5},
		"train":        {File: "b.yaml", Line: 9, Col: 1},
	}
	var got []string
	for _, e := range config.Validate(c, pos) {
		got = append(got, e.Error())
	}
	want := []string{
		"a.yaml:3:5: model.hidden[1]: a layer needs at least 1 unit, got 0",
		"b.yaml:9:1: train.epochs: must be at least 1, got 0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors\n got %q\nwant %q", got, want)
	}
}
