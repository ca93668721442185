package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nnx-dev/nnx/pkg/model"
)

// ManifestFile is the manifest's name inside a bundle.
const ManifestFile = "manifest.json"

// Format is the manifest format version this package writes and reads.
const Format = 1

// Preprocessing is how a bundle's input values become network inputs: each
// pixel in [0, 255] divided by 255.
const Preprocessing = "pixel/255"

// Bundle is a trained model ready to serve: its manifest and its tensors in
// model.Spec.Params order.
type Bundle struct {
	Manifest Manifest
	Weights  []model.Tensor
}

// Manifest is a bundle's manifest.json.
type Manifest struct {
	Format          int               `json:"format"`
	NNXVersion      string            `json:"nnx_version"`
	Name            string            `json:"name"`
	Experiment      string            `json:"experiment"`
	Trial           string            `json:"trial"`
	Architecture    Architecture      `json:"architecture"`
	Input           Input             `json:"input"`
	Labels          []string          `json:"labels"`
	Metrics         Metrics           `json:"metrics"`
	Config          json.RawMessage   `json:"config,omitempty"` // the resolved trial config
	DataFingerprint string            `json:"data_fingerprint"`
	Files           map[string]string `json:"files"` // file name -> hex sha256, every file but the manifest
}

// Architecture is the network: its input shape, class count and layers.
type Architecture struct {
	Input   []int   `json:"input"`
	Classes int     `json:"classes"`
	Layers  []Layer `json:"layers"`
}

// Layer is a model.Layer in JSON: the kind and its non-zero settings.
type Layer struct {
	Kind    string  `json:"kind"`
	Units   int     `json:"units,omitempty"`
	Filters int     `json:"filters,omitempty"`
	Kernel  int     `json:"kernel,omitempty"`
	Stride  int     `json:"stride,omitempty"`
	Padding int     `json:"padding,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
}

// Input says what a caller sends: values of Shape, in Range, turned into
// network inputs by Preprocessing.
type Input struct {
	Shape         []int      `json:"shape"`
	Preprocessing string     `json:"preprocessing"`
	Range         [2]float64 `json:"range"`
}

// Stat is a value summarised over folds.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	N    int     `json:"n"`
}

// Metrics are the trial's headline figures.
type Metrics struct {
	ValAccuracy  Stat    `json:"validation_accuracy"`
	TestAccuracy float64 `json:"test_accuracy"`
}

// NewArchitecture converts a spec to its manifest form.
func NewArchitecture(s model.Spec) Architecture {
	a := Architecture{Input: append([]int(nil), s.Input...), Classes: s.Classes}
	for _, l := range s.Layers {
		a.Layers = append(a.Layers, Layer{Kind: string(l.Kind), Units: l.Units, Filters: l.Filters,
			Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding, Rate: l.Rate})
	}
	return a
}

// Spec converts the architecture back to a model.Spec and checks that its
// layers fit together.
func (a Architecture) Spec() (model.Spec, error) {
	s := model.Spec{Input: append(model.Shape(nil), a.Input...), Classes: a.Classes}
	for _, l := range a.Layers {
		s.Layers = append(s.Layers, model.Layer{Kind: model.Kind(l.Kind), Units: l.Units, Filters: l.Filters,
			Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding, Rate: l.Rate})
	}
	if _, err := s.Shapes(); err != nil {
		return s, err
	}
	return s, nil
}

// New returns a bundle of spec's weights with the manifest's defaults filled
// in: format, architecture, image input in [0, 255] scaled by 1/255, and
// labels "0".."classes-1". The caller adds the name, provenance and metrics.
func New(spec model.Spec, weights []model.Tensor) *Bundle {
	b := &Bundle{Manifest: Manifest{Architecture: NewArchitecture(spec)}, Weights: weights}
	b.fillDefaults()
	return b
}

// fillDefaults sets the manifest fields a writer may leave out.
func (b *Bundle) fillDefaults() {
	m := &b.Manifest
	if m.Format == 0 {
		m.Format = Format
	}
	if len(m.Input.Shape) == 0 {
		m.Input.Shape = append([]int(nil), m.Architecture.Input...)
	}
	if m.Input.Preprocessing == "" {
		m.Input.Preprocessing = Preprocessing
	}
	if m.Input.Range == [2]float64{} {
		m.Input.Range = [2]float64{0, 255}
	}
	if len(m.Labels) == 0 {
		for i := range m.Architecture.Classes {
			m.Labels = append(m.Labels, strconv.Itoa(i))
		}
	}
}

// Spec is the bundle's network.
func (b *Bundle) Spec() (model.Spec, error) { return b.Manifest.Architecture.Spec() }

// check verifies that the manifest describes a network nnx can run and that
// the weights are exactly its parameters; it returns the weights in
// model.Spec.Params order.
func (b *Bundle) check() ([]model.Tensor, error) {
	m := b.Manifest
	if m.Format != Format {
		return nil, fmt.Errorf("format %d, this nnx reads format %d", m.Format, Format)
	}
	spec, err := b.Spec()
	if err != nil {
		return nil, fmt.Errorf("architecture: %w", err)
	}
	if len(m.Labels) != spec.Classes {
		return nil, fmt.Errorf("%d labels for %d classes", len(m.Labels), spec.Classes)
	}
	if m.Input.Preprocessing != Preprocessing {
		return nil, fmt.Errorf("input preprocessing %q, nnx knows %q", m.Input.Preprocessing, Preprocessing)
	}
	if model.Shape(m.Input.Shape).Size() != spec.Input.Size() {
		return nil, fmt.Errorf("input shape %v does not match the architecture's %v", m.Input.Shape, spec.Input)
	}
	params, err := spec.Params()
	if err != nil {
		return nil, err
	}
	byName := map[string]model.Tensor{}
	for _, t := range b.Weights {
		byName[t.Name] = t
	}
	out := make([]model.Tensor, len(params))
	for i, p := range params {
		t, ok := byName[p.Name]
		if !ok {
			return nil, fmt.Errorf("weights lack tensor %s %v", p.Name, p.Shape)
		}
		if !slices.Equal(t.Shape, p.Shape) || len(t.Data) != model.Shape(p.Shape).Size() {
			return nil, fmt.Errorf("tensor %s has shape %v (%d values), the architecture needs %v", p.Name, t.Shape, len(t.Data), p.Shape)
		}
		out[i] = t
		delete(byName, p.Name)
	}
	if len(byName) > 0 {
		extra := make([]string, 0, len(byName))
		for n := range byName {
			extra = append(extra, n)
		}
		slices.Sort(extra)
		return nil, fmt.Errorf("weights hold tensors the architecture does not use: %s", strings.Join(extra, ", "))
	}
	return out, nil
}

// validName reports whether name can be a file of a bundle: a plain file
// name, not hidden.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) &&
		!strings.HasPrefix(name, ".") && filepath.Base(name) == name
}

// Write stores b in dir as a bundle: manifest.json, weights.safetensors and
// the extra files (e.g. trial.yaml, metrics.json), each checksummed in the
// manifest. It builds the bundle in a temporary directory beside dir and
// swaps it in by rename, so dir is never a partial bundle. b.Manifest.Files
// is filled in; missing defaults are set as New sets them.
func Write(dir string, b *Bundle, extra map[string][]byte) error {
	b.fillDefaults()
	if _, err := b.check(); err != nil {
		return fmt.Errorf("bundle %s: %w", dir, err)
	}
	w, err := EncodeSafetensors(b.Weights)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", dir, err)
	}
	files := map[string][]byte{WeightsFile: w}
	for name, data := range extra {
		if !validName(name) || name == ManifestFile || name == WeightsFile {
			return fmt.Errorf("bundle %s: cannot add a file named %q", dir, name)
		}
		files[name] = data
	}
	b.Manifest.Files = map[string]string{}
	for name, data := range files {
		sum := sha256.Sum256(data)
		b.Manifest.Files[name] = hex.EncodeToString(sum[:])
	}
	man, err := json.MarshalIndent(b.Manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("bundle %s: %w", dir, err)
	}
	files[ManifestFile] = append(man, '\n')
	return swapIn(dir, func(tmp string) error {
		for name, data := range files {
			if err := writeSynced(filepath.Join(tmp, name), data); err != nil {
				return err
			}
		}
		return nil
	})
}

// swapIn fills a fresh temporary directory beside dir with fill, then
// renames it to dir, replacing what was there.
func swapIn(dir string, fill func(tmp string) error) error {
	dir = filepath.Clean(dir)
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replacing %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir) // put the previous bundle back
		return fmt.Errorf("replacing %s: %w", dir, err)
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// writeSynced writes a new file and flushes it to disk.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir flushes a directory's entries to disk. Some file systems cannot
// sync directories; the renames stand regardless, so that error is ignored.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	f.Sync()
	return f.Close()
}

// readManifest reads and parses dir's manifest.
func readManifest(dir string) (Manifest, error) {
	var m Manifest
	if st, err := os.Stat(dir); err != nil {
		return m, fmt.Errorf("bundle %s: %w", dir, err)
	} else if !st.IsDir() {
		return m, fmt.Errorf("bundle %s: not a directory", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("bundle %s: %s is missing (not a bundle: nnx run writes them as RESULTS/<experiment>/best)%w", dir, ManifestFile, notExist{})
	}
	if err != nil {
		return m, fmt.Errorf("bundle %s: %w", dir, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("bundle %s: %s: %v", dir, ManifestFile, err)
	}
	if m.Files[WeightsFile] == "" {
		return m, fmt.Errorf("bundle %s: %s lists no %s", dir, ManifestFile, WeightsFile)
	}
	for name := range m.Files {
		if !validName(name) || name == ManifestFile {
			return m, fmt.Errorf("bundle %s: %s lists a bad file name %q", dir, ManifestFile, name)
		}
	}
	return m, nil
}

// notExist marks the error for a directory without a manifest, so that
// errors.Is(err, fs.ErrNotExist) holds for it as for a missing directory.
// Its text is empty: it adds nothing to a message.
type notExist struct{}

func (notExist) Error() string        { return "" }
func (notExist) Is(target error) bool { return target == fs.ErrNotExist }

// readChecked reads one listed file of a bundle and verifies its checksum.
func readChecked(dir, name, want string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("bundle %s: %s is missing", dir, name)
	}
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("bundle %s: %s fails its checksum (truncated or altered; %d bytes, sha256 %s, the manifest says %s)",
			dir, name, len(data), got[:12], short(want))
	}
	return data, nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Load reads the bundle in dir, verifying every file's checksum and that
// the weights fit the architecture. Errors name the bundle and the file.
// Where there is no bundle (dir or its manifest.json does not exist),
// errors.Is(err, fs.ErrNotExist) holds; os.IsNotExist does not look
// through the wrapping. A damaged bundle (a listed file missing, truncated
// or altered) is not that error.
func Load(dir string) (*Bundle, error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	var weights []byte
	for _, name := range sortedKeys(m.Files) {
		data, err := readChecked(dir, name, m.Files[name])
		if err != nil {
			return nil, err
		}
		if name == WeightsFile {
			weights = data
		}
	}
	ts, err := DecodeSafetensors(filepath.Join(dir, WeightsFile), weights)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Manifest: m, Weights: ts}
	if b.Weights, err = b.check(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	return b, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Copy copies the bundle in src to dst atomically, verifying every file's
// checksum on the way: dst is replaced only by a complete, intact copy.
func Copy(src, dst string) error {
	b, err := Load(src)
	if err != nil {
		return err
	}
	m := b.Manifest
	return swapIn(dst, func(tmp string) error {
		for _, name := range append(sortedKeys(m.Files), ManifestFile) {
			if err := copyFile(filepath.Join(src, name), filepath.Join(tmp, name)); err != nil {
				return err
			}
		}
		// Check the copy, not only the source: a file may change under us.
		if _, err := Load(tmp); err != nil {
			return fmt.Errorf("copying %s to %s: %w", src, dst, err)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
