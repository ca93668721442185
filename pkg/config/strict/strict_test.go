package strict

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

type train struct {
	Epochs       int32   `yaml:"epochs"`
	BatchSize    int     `yaml:"batch_size"`
	LearningRate float64 `yaml:"learning_rate"`
}

type model struct {
	Hidden     []int   `yaml:"hidden"`
	Activation string  `yaml:"activation"`
	Dropout    float32 `yaml:"dropout"`
}

type common struct {
	Seed uint8 `yaml:"seed"`
}

// level is a yaml.Unmarshaler.
type level int

func (l *level) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "quiet":
		*l = 1
	case "verbose":
		*l = 2
	default:
		return fmt.Errorf("unknown level %q", n.Value)
	}
	return nil
}

type experiment struct {
	common  `yaml:",inline"`
	Name    string            `yaml:"name"`
	Model   model             `yaml:"model"`
	Train   *train            `yaml:"train"`
	Labels  map[string]string `yaml:"labels"`
	Shuffle bool              `yaml:"shuffle"`
	Grid    yaml.Node         `yaml:"grid"`
	Extra   *yaml.Node        `yaml:"extra"`
	Level   level             `yaml:"level"`
	Timeout time.Duration     `yaml:"timeout"`
	Params  map[string]any    `yaml:"params"`
	Note    string            // untagged: "note"
	Skip    string            `yaml:"-"`
	hidden  int
}

func parseNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	return &n
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top-level key", "nmae: x\n",
			`x.yaml:1:1: unknown field "nmae" (did you mean "name"?)`},
		{"unknown nested key", "train:\n  epoch: 3\n",
			`x.yaml:2:3: unknown field "train.epoch" (did you mean "train.epochs"?)`},
		{"unknown key case-insensitive", "train:\n  Epochs: 3\n",
			`x.yaml:2:3: unknown field "train.Epochs" (did you mean "train.epochs"?)`},
		{"unknown key without suggestion", "train:\n  foo: 1\n",
			`x.yaml:2:3: unknown field "train.foo" (valid: epochs, batch_size, learning_rate)`},
		{"skipped field is unknown", "skip: x\n",
			`x.yaml:1:1: unknown field "skip" (valid: seed, name, model, train, labels, shuffle, grid, extra, level, timeout, params, note)`},
		{"int got word", "train:\n  epochs: ten\n",
			`x.yaml:2:11: train.epochs: expected an integer, got "ten"`},
		{"int got float", "train:\n  epochs: 2.5\n",
			`x.yaml:2:11: train.epochs: expected an integer, got "2.5"`},
		{"int got list", "train:\n  batch_size: [1]\n",
			`x.yaml:2:15: train.batch_size: expected an integer, got a list`},
		{"int overflow", "train:\n  epochs: 1e12\n",
			`x.yaml:2:11: train.epochs: 1e12 overflows int32`},
		{"uint overflow", "seed: 300\n",
			`x.yaml:1:7: seed: 300 overflows uint8`},
		{"uint negative", "seed: -1\n",
			`x.yaml:1:7: seed: -1 overflows uint8`},
		{"float got word", "train:\n  learning_rate: fast\n",
			`x.yaml:2:18: train.learning_rate: expected a number, got "fast"`},
		{"float got bool", "train:\n  learning_rate: true\n",
			`x.yaml:2:18: train.learning_rate: expected a number, got "true"`},
		{"float32 overflow", "model:\n  dropout: 1e40\n",
			`x.yaml:2:12: model.dropout: 1e40 overflows float32`},
		{"bool got yes", "shuffle: yes\n",
			`x.yaml:1:10: shuffle: expected true or false, got "yes"`},
		{"string got list", "name: [a, b]\n",
			`x.yaml:1:7: name: expected a string, got a list`},
		{"string got mapping", "name:\n  first: a\n",
			`x.yaml:2:3: name: expected a string, got a mapping`},
		{"list got scalar", "model:\n  hidden: x\n",
			`x.yaml:2:11: model.hidden: expected a list, got "x"`},
		{"bad list element", "model:\n  hidden: [64, \"x\"]\n",
			`x.yaml:2:16: model.hidden[1]: expected an integer, got "x"`},
		{"struct got list", "train: [1, 2]\n",
			`x.yaml:1:8: train: expected a mapping, got a list`},
		{"map got scalar", "labels: x\n",
			`x.yaml:1:9: labels: expected a mapping, got "x"`},
		{"map value got list", "labels:\n  team: [a]\n",
			`x.yaml:2:9: labels.team: expected a string, got a list`},
		{"root got list", "- 1\n",
			`x.yaml:1:1: expected a mapping, got a list`},
		{"duplicate key", "train:\n  epochs: 1\n  epochs: 2\n",
			`x.yaml:3:3: duplicate field "train.epochs" (first at 2:3)`},
		{"duplicate top-level key", "name: a\nseed: 1\nname: b\n",
			`x.yaml:3:1: duplicate field "name" (first at 1:1)`},
		{"duplicate map key", "labels:\n  a: x\n  a: y\n",
			`x.yaml:3:3: duplicate field "labels.a" (first at 2:3)`},
		{"unmarshaler error", "level: loud\n",
			`x.yaml:1:8: level: unknown level "loud"`},
		{"duration without unit", "timeout: 30\n",
			`x.yaml:1:10: timeout: expected a duration like "90s" or "1h30m", got "30"`},
		{"bad alias value reported at use", "name: &n ten\ntrain:\n  epochs: *n\n",
			`x.yaml:3:11: train.epochs: expected an integer, got "ten"`},
		{"alias containing itself", "train: &t\n  <<: *t\n",
			`x.yaml:2:7: train: alias *t contains itself`},
		{"merge of a scalar", "train:\n  <<: 3\n",
			`x.yaml:2:7: train: merge (<<) expects a mapping or a list of mappings, got "3"`},
		{"long value is shortened", "shuffle: " + strings.Repeat("ab", 30) + "\n",
			`x.yaml:1:10: shuffle: expected true or false, got "` + strings.Repeat("ab", 18) + `a..."`},
		{"multiple errors sorted", "train:\n  epochs: ten\n  <<: {batch_size: x}\n  foo: 1\nnmae: x\n",
			`x.yaml:2:11: train.epochs: expected an integer, got "ten"` + "\n" +
				`x.yaml:3:20: train.batch_size: expected an integer, got "x"` + "\n" +
				`x.yaml:4:3: unknown field "train.foo" (valid: epochs, batch_size, learning_rate)` + "\n" +
				`x.yaml:5:1: unknown field "nmae" (did you mean "name"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e experiment
			err := Decode("x.yaml", parseNode(t, tt.src), &e, nil)
			if got := errString(err); got != tt.want {
				t.Errorf("Decode(%q):\n got %s\nwant %s", tt.src, got, tt.want)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not Errors", err)
			}
			if es[0].Field == "" && !strings.HasPrefix(tt.name, "root") {
				t.Errorf("first error has no Field: %+v", es[0])
			}
		})
	}
}

func TestDecodeErrorFields(t *testing.T) {
	var e experiment
	err := Decode("x.yaml", parseNode(t, "train:\n  epoch: 1\nmodel:\n  hidden: [1, x]\n"), &e, nil)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v, want Errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Field+"@"+e.Pos.String())
	}
	want := []string{"train.epoch@x.yaml:2:3", "model.hidden[1]@x.yaml:4:15"}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %q, want %q", got, want)
	}
}

func TestDecodeValues(t *testing.T) {
	src := `seed: 7
name: &n exp1
note: 1.10
model:
  hidden: [64, 32]
  activation: relu
  dropout: 0.5
train:
  <<: {epochs: 5, batch_size: 8}
  epochs: 7
  learning_rate: 1
labels:
  run: *n
shuffle: true
grid:
  lr: [0.1, 0.01]
extra: [1, 2]
level: verbose
timeout: 1m30s
params: {beta: 0.9, tags: [a]}
`
	var e experiment
	if err := Decode("x.yaml", parseNode(t, src), &e, nil); err != nil {
		t.Fatal(err)
	}
	want := experiment{
		common:  common{Seed: 7},
		Name:    "exp1",
		Note:    "1.10",
		Model:   model{Hidden: []int{64, 32}, Activation: "relu", Dropout: 0.5},
		Train:   &train{Epochs: 7, BatchSize: 8, LearningRate: 1},
		Labels:  map[string]string{"run": "exp1"},
		Shuffle: true,
		Level:   2,
		Timeout: 90 * time.Second,
		Params:  map[string]any{"beta": 0.9, "tags": []any{"a"}},
	}
	if e.Grid.Kind != yaml.MappingNode || e.Grid.Line != 16 || len(e.Grid.Content) != 2 || e.Grid.Content[0].Value != "lr" {
		t.Errorf("Grid = %+v, want the raw mapping at line 16", e.Grid)
	}
	if e.Extra == nil || e.Extra.Kind != yaml.SequenceNode || len(e.Extra.Content) != 2 {
		t.Errorf("Extra = %+v, want the raw list", e.Extra)
	}
	e.Grid, e.Extra = yaml.Node{}, nil
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got  %+v\nwant %+v", e, want)
	}
}

func TestMergeList(t *testing.T) {
	src := `params:
  a: &a {epochs: 1, batch_size: 2}
  b: &b {epochs: 3, learning_rate: 0.5}
train:
  <<: [*a, *b]
  batch_size: 4
`
	var e experiment
	pos := Positions{}
	if err := Decode("x.yaml", parseNode(t, src), &e, pos); err != nil {
		t.Fatal(err)
	}
	// Earlier mappings in the list win over later ones; explicit keys win over both.
	if want := (train{Epochs: 1, BatchSize: 4, LearningRate: 0.5}); *e.Train != want {
		t.Errorf("train = %+v, want %+v", *e.Train, want)
	}
	if got := pos["train.epochs"].String(); got != "x.yaml:2:18" {
		t.Errorf("train.epochs at %s, want x.yaml:2:17 (the anchored value)", got)
	}
}

func TestNullInListAndRoot(t *testing.T) {
	var e experiment
	if err := Decode("x.yaml", parseNode(t, "model:\n  hidden: [1, ~, 3]\n"), &e, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Model.Hidden, []int{1, 0, 3}) {
		t.Errorf("hidden = %v, want [1 0 3]", e.Model.Hidden)
	}
	e = experiment{Name: "keep"}
	if err := Decode("x.yaml", parseNode(t, "~\n"), &e, nil); err != nil || e.Name != "keep" {
		t.Errorf("null document: %v, %+v", err, e)
	}
	if err := Decode("x.yaml", &yaml.Node{Kind: yaml.DocumentNode}, &e, nil); err != nil {
		t.Errorf("empty document: %v", err)
	}
	if err := Decode("x.yaml", nil, &e, nil); err != nil {
		t.Errorf("nil node: %v", err)
	}
}

func TestNullLeavesValue(t *testing.T) {
	e := experiment{Name: "keep", Model: model{Hidden: []int{1}}, Train: &train{Epochs: 5}, Labels: map[string]string{"a": "b"}}
	pos := Positions{}
	src := "name: ~\ntrain:\n  epochs:\nmodel:\n  hidden: null\nlabels:\n  a: ~\n"
	if err := Decode("x.yaml", parseNode(t, src), &e, pos); err != nil {
		t.Fatal(err)
	}
	if e.Name != "keep" || e.Train.Epochs != 5 || !slices.Equal(e.Model.Hidden, []int{1}) || e.Labels["a"] != "b" {
		t.Errorf("null changed values: %+v %+v", e, *e.Train)
	}
	for _, p := range []string{"name", "train.epochs", "model.hidden", "labels.a"} {
		if _, ok := pos[p]; ok {
			t.Errorf("position recorded for null %s", p)
		}
	}
}

func TestDecodeOnTop(t *testing.T) {
	pipeline := "train:\n  epochs: 3\n  batch_size: 32\nmodel:\n  hidden: [8, 8, 8]\nlabels:\n  team: core\n  run: base\n"
	exp := "\ntrain:\n  epochs: 10\nmodel:\n  hidden: [4]\nlabels:\n  run: e1\n"
	var e experiment
	pos := Positions{}
	if err := Decode("p.yaml", parseNode(t, pipeline), &e, pos); err != nil {
		t.Fatal(err)
	}
	if got := pos["model.hidden[2]"].String(); got != "p.yaml:5:18" {
		t.Errorf("pipeline model.hidden[2] at %s", got)
	}
	if err := Decode("e.yaml", parseNode(t, exp), &e, pos); err != nil {
		t.Fatal(err)
	}
	if e.Train.Epochs != 10 || e.Train.BatchSize != 32 {
		t.Errorf("train = %+v, want epochs 10 from the experiment and batch_size 32 kept", *e.Train)
	}
	if !slices.Equal(e.Model.Hidden, []int{4}) {
		t.Errorf("hidden = %v, want the list replaced by [4]", e.Model.Hidden)
	}
	if want := map[string]string{"team": "core", "run": "e1"}; !reflect.DeepEqual(e.Labels, want) {
		t.Errorf("labels = %v, want %v", e.Labels, want)
	}
	want := map[string]string{
		"train":            "e.yaml:2:1",
		"train.epochs":     "e.yaml:3:11",
		"train.batch_size": "p.yaml:3:15",
		"model":            "e.yaml:4:1",
		"model.hidden":     "e.yaml:5:11",
		"model.hidden[0]":  "e.yaml:5:12",
		"labels":           "e.yaml:6:1",
		"labels.team":      "p.yaml:7:9",
		"labels.run":       "e.yaml:7:8",
	}
	got := map[string]string{}
	for k, p := range pos {
		got[k] = p.String()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("positions:\n got %v\nwant %v", got, want)
	}
}

func TestPositionsLookup(t *testing.T) {
	pos := Positions{
		"train":        {File: "e.yaml", Line: 2, Col: 1},
		"model.hidden": {File: "p.yaml", Line: 5, Col: 11},
	}
	tests := []struct {
		path, want string
		ok         bool
	}{
		{"train", "e.yaml:2:1", true},
		{"train.epochs", "e.yaml:2:1", true},
		{"model.hidden[1]", "p.yaml:5:11", true},
		{"model.hidden", "p.yaml:5:11", true},
		{"model", "", false},
		{"trainer", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		p, ok := pos.Lookup(tt.path)
		if p.String() != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%q) = %s, %v; want %s, %v", tt.path, p, ok, tt.want, tt.ok)
		}
	}
	if _, ok := Positions(nil).Lookup("train"); ok {
		t.Error("nil Positions found something")
	}
}

func TestSetPath(t *testing.T) {
	tests := []struct {
		path, value, want string
		check             func(e *experiment) bool
	}{
		{"train.learning_rate", "0.01", "<nil>",
			func(e *experiment) bool { return e.Train.LearningRate == 0.01 && e.Train.Epochs == 5 }},
		{"model.hidden", "[64, 64]", "<nil>",
			func(e *experiment) bool { return slices.Equal(e.Model.Hidden, []int{64, 64}) }},
		{"seed", "9", "<nil>",
			func(e *experiment) bool { return e.Seed == 9 }},
		{"labels.team", "vision", "<nil>",
			func(e *experiment) bool { return e.Labels["team"] == "vision" }},
		{"train", "{batch_size: 16}", "<nil>",
			func(e *experiment) bool { return e.Train.BatchSize == 16 && e.Train.Epochs == 5 }},
		{"name", "~", "<nil>",
			func(e *experiment) bool { return e.Name == "base" }},
		{"model.hidden", `[64, "x"]`, `cli:1:6: model.hidden[1]: expected an integer, got "x"`, nil},
		{"train.epochs", "ten", `cli:1:1: train.epochs: expected an integer, got "ten"`, nil},
		{"train.learnig_rate", "0.1", `cli:1:1: unknown field "train.learnig_rate" (did you mean "train.learning_rate"?)`, nil},
		{"trian.epochs", "1", `cli:1:1: unknown field "trian.epochs" (did you mean "train.epochs"?)`, nil},
		{"epoch", "1", `cli:1:1: unknown field "epoch" (did you mean "train.epochs"?)`, nil},
		{"train.zzz", "1", `cli:1:1: unknown field "train.zzz" (valid: epochs, batch_size, learning_rate)`, nil},
		{"name.first.last", "1", `cli:1:1: unknown field "name.first.last" ("name" has no fields)`, nil},
		{"", "1", `cli:1:1: unknown field "" (valid: seed, name, model, train, labels, shuffle, grid, extra, level, timeout, params, note)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			e := experiment{Name: "base", Train: &train{Epochs: 5}}
			pos := Positions{}
			err := SetPath("cli", &e, tt.path, parseNode(t, tt.value), pos)
			if got := errString(err); got != tt.want {
				t.Fatalf("SetPath(%q, %s):\n got %s\nwant %s", tt.path, tt.value, got, tt.want)
			}
			if err != nil {
				if !reflect.DeepEqual(e, experiment{Name: "base", Train: &train{Epochs: 5}}) && !strings.Contains(tt.want, "expected") {
					t.Errorf("bad path changed out: %+v", e)
				}
				return
			}
			if !tt.check(&e) {
				t.Errorf("SetPath(%q, %s) gave %+v / %+v", tt.path, tt.value, e, *e.Train)
			}
			if p, ok := pos[tt.path]; tt.value != "~" && (!ok || p.String() != "cli:1:1") {
				t.Errorf("position of %q = %v, %v; want cli:1:1", tt.path, p, ok)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	type inner struct {
		A int `yaml:"a"`
		B struct {
			C []string `yaml:"c"`
		} `yaml:"b"`
	}
	type Extra struct {
		X string `yaml:"x"`
	}
	type outer struct {
		*Extra `yaml:",inline"`
		In     inner          `yaml:"in"`
		Ptr    *inner         `yaml:"ptr"`
		M      map[string]int `yaml:"m"`
		Node   yaml.Node      `yaml:"node"`
		Lvl    level          `yaml:"lvl"`
		Dur    time.Duration  `yaml:"dur"`
		Skip   int            `yaml:"-"`
		Plain  bool
		priv   int
	}
	want := []string{"x", "in.a", "in.b.c", "ptr.a", "ptr.b.c", "m", "node", "lvl", "dur", "plain"}
	for _, typ := range []reflect.Type{reflect.TypeFor[outer](), reflect.TypeFor[*outer]()} {
		if got := Paths(typ); !slices.Equal(got, want) {
			t.Errorf("Paths(%v) =\n %q\nwant %q", typ, got, want)
		}
	}
	if got := Paths(reflect.TypeFor[int]()); got != nil {
		t.Errorf("Paths(int) = %q, want nil", got)
	}
}

func TestInlinePointerIsAllocated(t *testing.T) {
	type Extra struct {
		X string `yaml:"x"`
	}
	type outer struct {
		*Extra `yaml:",inline"`
		Y      int `yaml:"y"`
	}
	var o outer
	if err := Decode("x.yaml", parseNode(t, "x: hi\ny: 2\n"), &o, nil); err != nil {
		t.Fatal(err)
	}
	if o.Extra == nil || o.X != "hi" || o.Y != 2 {
		t.Errorf("got %+v", o)
	}
	type extra struct {
		X string `yaml:"x"`
	}
	type hidden struct {
		*extra `yaml:",inline"`
	}
	err := Decode("x.yaml", parseNode(t, "x: hi\n"), &hidden{}, nil)
	if want := "x.yaml:1:1: strict: inline field extra of strict.hidden is an unexported pointer, which cannot be allocated"; errString(err) != want {
		t.Errorf("unexported inline pointer: got %v, want %s", err, want)
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"epochs", "batch_size", "learning_rate"}
	dotted := []string{"train.epochs", "train.batch_size", "train.learning_rate", "model.hidden"}
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"epoch", fields, "epochs"},
		{"EPOCHS", fields, "epochs"},
		{"batchsize", fields, "batch_size"},
		{"learnig_rate", fields, "learning_rate"},
		{"lr", fields, ""},
		{"foo", fields, ""},
		{"x", []string{"y"}, ""},
		{"ab", []string{"cd"}, ""},
		{"hiden", dotted, "model.hidden"},
		{"train.epoch", dotted, "train.epochs"},
		{"epochs", dotted, "train.epochs"},
		{"learning", fields, ""},
		{"epoch", nil, ""},
		{"ab", []string{"xb", "ay"}, "xb"},
	}
	for _, tt := range tests {
		if got := Suggest(tt.name, tt.candidates); got != tt.want {
			t.Errorf("Suggest(%q, %q) = %q, want %q", tt.name, tt.candidates, got, tt.want)
		}
	}
}

func writeFile(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeFile(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"ok", "train:\n  epochs: 4\n", "<nil>"},
		{"empty", "", "<nil>"},
		{"comment only", "# nothing\n", "<nil>"},
		{"syntax error", "train:\n  epochs: 3\n bad: [\n", "FILE:2: did not find expected key"},
		{"bad indentation", "train:\n  epochs: 3\n   batch_size: 2\n", "FILE:3: mapping values are not allowed in this context"},
		{"tab", "train:\n\tepochs: 3\n", "FILE:2: found character that cannot start any token"},
		{"two documents", "seed: 1\n---\nseed: 2\n", "FILE:2:1: expected one YAML document, found another"},
		{"decode error", "train:\n  epochs: x\n", `FILE:2:11: train.epochs: expected an integer, got "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "exp.yaml", tt.src)
			var e experiment
			pos := Positions{}
			root, err := DecodeFile(path, &e, pos)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if got := errString(err); got != want {
				t.Fatalf("DecodeFile:\n got %s\nwant %s", got, want)
			}
			if strings.Contains(tt.want, "FILE:") && !strings.Contains(tt.want, "train.") {
				if root != nil {
					t.Errorf("root = %v on a parse error, want nil", root)
				}
				return
			}
			if root == nil || root.Kind != yaml.MappingNode {
				t.Fatalf("root = %+v, want a mapping node", root)
			}
			if tt.name == "ok" {
				if e.Train == nil || e.Train.Epochs != 4 {
					t.Errorf("train = %+v", e.Train)
				}
				if p := pos["train.epochs"]; p != (Pos{File: path, Line: 2, Col: 11}) {
					t.Errorf("position of train.epochs = %v", p)
				}
			}
		})
	}
	if _, err := DecodeFile(filepath.Join(t.TempDir(), "missing.yaml"), &experiment{}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want ErrNotExist", err)
	}
}

func TestBadOut(t *testing.T) {
	n := parseNode(t, "a: 1\n")
	var e experiment
	var i int
	for _, out := range []any{e, &i, nil, (*experiment)(nil)} {
		if err := Decode("x.yaml", n, out, nil); err == nil || !strings.Contains(err.Error(), "pointer to a struct") {
			t.Errorf("Decode into %T: %v", out, err)
		}
		if err := SetPath("x.yaml", out, "a", n, nil); err == nil {
			t.Errorf("SetPath into %T: no error", out)
		}
		if _, err := DecodeFile("x.yaml", out, nil); err == nil || !strings.Contains(err.Error(), "pointer to a struct") {
			t.Errorf("DecodeFile into %T: %v", out, err)
		}
	}
	type dup struct {
		A int `yaml:"a"`
		B int `yaml:"a"`
	}
	err := Decode("x.yaml", n, &dup{}, nil)
	if want := `x.yaml:1:1: strict: strict.dup has two fields named "a"`; errString(err) != want {
		t.Errorf("duplicate names: got %v, want %s", err, want)
	}
	type ch struct {
		C chan int `yaml:"c"`
	}
	err = Decode("x.yaml", parseNode(t, "c: 1\n"), &ch{}, nil)
	if want := `x.yaml:1:4: c: unsupported Go type chan int`; errString(err) != want {
		t.Errorf("chan field: got %v, want %s", err, want)
	}
}

func TestAliasExpansionBounded(t *testing.T) {
	// l8 expands to 10^9 integers.
	var b strings.Builder
	b.WriteString("l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [*l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d, *l%[3]d]\n", i, i, i-1)
	}
	var bomb struct {
		L0 []int                 `yaml:"l0"`
		L1 [][]int               `yaml:"l1"`
		L2 [][][]int             `yaml:"l2"`
		L3 [][][][]int           `yaml:"l3"`
		L4 [][][][][]int         `yaml:"l4"`
		L5 [][][][][][]int       `yaml:"l5"`
		L6 [][][][][][][]int     `yaml:"l6"`
		L7 [][][][][][][][]int   `yaml:"l7"`
		L8 [][][][][][][][][]int `yaml:"l8"`
	}
	err := Decode("x.yaml", parseNode(t, b.String()), &bomb, nil)
	if got, want := errString(err), "x.yaml:1:25: l5[8][3][2][6][0][5]: document too large (more than 1048576 values after expanding aliases)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Raw nodes are not expanded.
	var raw struct {
		L0, L1, L2, L3, L4, L5, L6, L7, L8 yaml.Node
	}
	if err := Decode("x.yaml", parseNode(t, b.String()), &raw, nil); err != nil {
		t.Errorf("raw nodes: %v", err)
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("model:\n  hidden:\n")
	for range 150 {
		b.WriteString("    - x\n")
	}
	var e experiment
	err := Decode("x.yaml", parseNode(t, b.String()), &e, nil)
	var es Errors
	if !errors.As(err, &es) || len(es) != 101 {
		t.Fatalf("got %d errors, want 101", len(es))
	}
	if got, want := es[100].Error(), "x.yaml:103:7: too many errors, stopping"; got != want {
		t.Errorf("last error = %s, want %s", got, want)
	}
}

func TestPosAndErrors(t *testing.T) {
	for _, tt := range []struct {
		p    Pos
		want string
	}{
		{Pos{File: "a.yaml", Line: 3, Col: 5}, "a.yaml:3:5"},
		{Pos{File: "a.yaml", Line: 3}, "a.yaml:3"},
		{Pos{File: "a.yaml"}, "a.yaml"},
		{Pos{Line: 3, Col: 5}, "3:5"},
		{Pos{}, ""},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
	if err := (Errors{}).Err(); err != nil {
		t.Errorf("empty Errors.Err() = %v", err)
	}
	es := Errors{
		{Pos: Pos{File: "b.yaml", Line: 1, Col: 1}, Msg: "b1"},
		{Pos: Pos{File: "a.yaml", Line: 2, Col: 9}, Msg: "a2"},
		{Pos: Pos{File: "a.yaml", Line: 2, Col: 3}, Msg: "a1"},
		{Msg: "nowhere"},
	}
	want := "nowhere\na.yaml:2:3: a1\na.yaml:2:9: a2\nb.yaml:1:1: b1"
	if got := errString(es.Err()); got != want {
		t.Errorf("Errors.Err():\n got %s\nwant %s", got, want)
	}
}
