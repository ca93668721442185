package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nnx-dev/nnx/pkg/model"
)

// testBundle is a small CNN with made-up weights.
func testBundle(t *testing.T) *Bundle {
	t.Helper()
	spec := model.Spec{Input: model.Shape{1, 28, 28}, Classes: 10, Layers: []model.Layer{
		{Kind: model.Conv2D, Filters: 2, Kernel: 3, Stride: 2, Padding: 1}, {Kind: model.BatchNorm}, {Kind: model.ReLU},
		{Kind: model.MaxPool2D, Kernel: 2}, {Kind: model.Dropout, Rate: 0.25}, {Kind: model.Flatten},
		{Kind: model.Dense, Units: 10},
	}}
	params, err := spec.Params()
	if err != nil {
		t.Fatal(err)
	}
	var ws []model.Tensor
	for i, p := range params {
		d := make([]float32, model.Shape(p.Shape).Size())
		for j := range d {
			d[j] = float32(i) + float32(j)/1000
		}
		ws = append(ws, model.Tensor{Name: p.Name, Shape: p.Shape, Data: d})
	}
	b := New(spec, ws)
	b.Manifest.NNXVersion, b.Manifest.Name, b.Manifest.Experiment, b.Manifest.Trial = "0.1.0", "cnn", "cnn", "abc123"
	b.Manifest.Metrics = Metrics{ValAccuracy: Stat{Mean: 0.98, Std: 0.001, N: 5}, TestAccuracy: 0.985}
	b.Manifest.Config = json.RawMessage(`{"seed":42}`)
	b.Manifest.DataFingerprint = "0123456789abcdef"
	return b
}

func TestWriteLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "best")
	b := testBundle(t)
	extra := map[string][]byte{"trial.yaml": []byte("version: 1\n"), "metrics.json": []byte("{}\n")}
	if err := Write(dir, b, extra); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Weights, b.Weights) {
		t.Error("weights differ after a round trip")
	}
	m := got.Manifest
	if m.Format != 1 || m.Name != "cnn" || m.Input.Preprocessing != "pixel/255" || m.Input.Range != [2]float64{0, 255} ||
		!reflect.DeepEqual(m.Input.Shape, []int{1, 28, 28}) || len(m.Labels) != 10 || m.Labels[9] != "9" ||
		compact(m.Config) != `{"seed":42}` || m.Metrics.ValAccuracy.N != 5 {
		t.Errorf("manifest: %+v", m)
	}
	if len(m.Files) != 3 || m.Files["trial.yaml"] == "" || m.Files[WeightsFile] == "" {
		t.Errorf("files: %v", m.Files)
	}
	spec, err := got.Spec()
	if err != nil || !reflect.DeepEqual(spec.Layers, mustSpec(t, b).Layers) {
		t.Errorf("spec: %v %+v", err, spec)
	}
	// The manifest uses snake_case names.
	raw, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	for _, key := range []string{`"nnx_version"`, `"data_fingerprint"`, `"validation_accuracy"`, `"test_accuracy"`, `"preprocessing"`, `"kind": "conv2d"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("manifest lacks %s:\n%s", key, raw)
		}
	}
	// Writing again replaces the bundle and leaves nothing behind.
	b.Manifest.Name = "second"
	if err := Write(dir, b, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(dir); err != nil || got.Manifest.Name != "second" || len(got.Manifest.Files) != 1 {
		t.Errorf("rewrite: %v %+v", err, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "trial.yaml")); !os.IsNotExist(err) {
		t.Error("a file of the replaced bundle survived")
	}
	assertNoTemp(t, filepath.Dir(dir))
}

func compact(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err.Error()
	}
	return buf.String()
}

func mustSpec(t *testing.T, b *Bundle) model.Spec {
	s, err := b.Spec()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary %s left in %s", e.Name(), dir)
		}
	}
}

func TestLoadDamaged(t *testing.T) {
	for _, c := range []struct {
		name, want string
		damage     func(dir string) error
	}{
		{"missing weights", "weights.safetensors is missing", func(d string) error { return os.Remove(filepath.Join(d, WeightsFile)) }},
		{"missing extra", "metrics.json is missing", func(d string) error { return os.Remove(filepath.Join(d, "metrics.json")) }},
		{"truncated weights", "weights.safetensors fails its checksum (truncated or altered; 100 bytes", func(d string) error {
			return os.Truncate(filepath.Join(d, WeightsFile), 100)
		}},
		{"altered extra", "trial.yaml fails its checksum", func(d string) error {
			return os.WriteFile(filepath.Join(d, "trial.yaml"), []byte("version: 2\n"), 0o644)
		}},
		{"missing manifest", "manifest.json is missing (not a bundle", func(d string) error { return os.Remove(filepath.Join(d, ManifestFile)) }},
		{"truncated manifest", "manifest.json: unexpected end of JSON input", func(d string) error {
			return os.Truncate(filepath.Join(d, ManifestFile), 50)
		}},
		{"manifest unlisting weights", "manifest.json lists no weights.safetensors", func(d string) error {
			return editManifest(d, func(m *Manifest) { delete(m.Files, WeightsFile) })
		}},
		{"manifest escaping the bundle", `manifest.json lists a bad file name "../x"`, func(d string) error {
			return editManifest(d, func(m *Manifest) { m.Files["../x"] = "00" })
		}},
		{"architecture changed", "tensor conv2d0.weight has shape [2 1 3 3] (18 values), the architecture needs [4 1 3 3]", func(d string) error {
			return editManifest(d, func(m *Manifest) { m.Architecture.Layers[0].Filters = 4 })
		}},
		{"unknown layer", "architecture: layers[2] swish is not a known layer", func(d string) error {
			return editManifest(d, func(m *Manifest) { m.Architecture.Layers[2].Kind = "swish" })
		}},
		{"future format", "format 2, this nnx reads format 1", func(d string) error {
			return editManifest(d, func(m *Manifest) { m.Format = 2 })
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			if err := Write(dir, testBundle(t), map[string][]byte{"trial.yaml": []byte("version: 1\n"), "metrics.json": []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			if err := c.damage(dir); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bundle "+dir) {
				t.Errorf("got %v\nwant an error naming %s and containing %q", err, dir, c.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nowhere")); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("a missing directory: %v", err)
	}
}

// editManifest rewrites a bundle's manifest (its checksums stay).
func editManifest(dir string, edit func(*Manifest)) error {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	edit(&m)
	b, err = json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func TestWriteRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	b := testBundle(t)
	for name, extra := range map[string]map[string][]byte{
		"a path":        {"../evil": nil},
		"the manifest":  {ManifestFile: nil},
		"the weights":   {WeightsFile: nil},
		"a hidden file": {".x": nil},
	} {
		if err := Write(dir, b, extra); err == nil {
			t.Errorf("%s as an extra file: no error", name)
		}
	}
	short := testBundle(t)
	short.Weights = short.Weights[1:]
	if err := Write(dir, short, nil); err == nil || !strings.Contains(err.Error(), "weights lack tensor conv2d0.weight") {
		t.Errorf("missing tensor: %v", err)
	}
	extra := testBundle(t)
	extra.Weights = append(extra.Weights, model.Tensor{Name: "zzz", Shape: []int{1}, Data: []float32{1}})
	if err := Write(dir, extra, nil); err == nil || !strings.Contains(err.Error(), "does not use: zzz") {
		t.Errorf("extra tensor: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("a refused write left a directory")
	}
	assertNoTemp(t, filepath.Dir(dir))
}

func TestCopy(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "cnn", "best"), filepath.Join(root, "best")
	if err := Write(src, testBundle(t), map[string][]byte{"metrics.json": []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := Copy(src, dst); err != nil {
		t.Fatal(err)
	}
	a, _ := Load(src)
	b, err := Load(dst)
	if err != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("copy differs: %v", err)
	}
	// A damaged source never replaces a good copy.
	os.Truncate(filepath.Join(src, "metrics.json"), 1)
	if err := Copy(src, dst); err == nil || !strings.Contains(err.Error(), "metrics.json fails its checksum") {
		t.Errorf("copying a damaged bundle: %v", err)
	}
	if _, err := Load(dst); err != nil {
		t.Errorf("the earlier copy was harmed: %v", err)
	}
	assertNoTemp(t, root)
}

// TestLoadNotExist: "no bundle here" is fs.ErrNotExist, damage is not.
func TestLoadNotExist(t *testing.T) {
	root := t.TempDir()
	if _, err := Load(filepath.Join(root, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing directory: %v is not fs.ErrNotExist", err)
	}
	if _, err := Load(root); !errors.Is(err, fs.ErrNotExist) || !strings.HasSuffix(err.Error(), "best)") {
		t.Errorf("a directory without a manifest: %v", err)
	}
	dir := filepath.Join(root, "b")
	if err := Write(dir, testBundle(t), nil); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, WeightsFile))
	if _, err := Load(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a bundle missing its weights: %v, want an error that is not fs.ErrNotExist", err)
	}
}
