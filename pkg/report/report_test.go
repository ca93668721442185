package report

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	goldenfile "github.com/nnx-dev/nnx/internal/golden"
	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/results"
)

// update rewrites the golden files: go test ./pkg/report -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixture is the fake results tree testdata/gen writes: three experiments
// with done, failed, not-run and stale trials, two folds, two swept axes.
const fixture = "testdata/results"

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), got, *update, "./pkg/report")
}

func load(t *testing.T, dir string) []*Experiment {
	t.Helper()
	exps, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return exps
}

// copyTree copies the fixture to a temporary directory and returns it.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "results")
	if err := os.CopyFS(dst, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestColumnsMatchConfig(t *testing.T) {
	var keys []string
	for _, c := range Columns() {
		if c.Header == "" || c.Cell == nil {
			t.Errorf("column %q: no header or cell", c.Key)
		}
		keys = append(keys, c.Key)
	}
	if valid := config.ReportColumns(); !slices.Equal(slices.Sorted(slices.Values(keys)), slices.Sorted(slices.Values(valid))) {
		t.Errorf("report.Columns keys %v, config.ReportColumns %v: every key needs a column and vice versa", keys, valid)
	}
	for _, m := range []*results.Metrics{{}, {Config: config.Trial{Model: config.Model{Layers: []config.Layer{{}}}}}} {
		for _, k := range DefaultColumns([]*results.Metrics{m}) {
			if !slices.Contains(keys, k) {
				t.Errorf("default column %q has no Column", k)
			}
		}
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Duration(123.4), "2min 3s"},
		{Duration(44.6), "45s"},
		{Duration(3725), "1h 2min 5s"},
		{Percent(0.97306), "97.31%"},
		{Accuracy(results.Stat{Mean: 0.97306, Std: 0.0012, N: 3}), "97.31% ± 0.12 (n=3)"},
		{Accuracy(results.Stat{Mean: 0.5, N: 1}), "50.00%"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	var b bytes.Buffer
	if err := Markdown(&b, []string{"A", "B|C"}, [][]string{{"x|y", "two\nlines"}}); err != nil {
		t.Fatal(err)
	}
	if want := "|A|B\\|C|\n| --- | --- |\n| x\\|y | two lines |\n"; b.String() != want {
		t.Errorf("Markdown:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestLoad(t *testing.T) {
	exps := load(t, fixture)
	var names []string
	for _, e := range exps {
		names = append(names, e.Name)
	}
	// best/ (a bundle), .cache and a directory without results are skipped.
	if want := []string{"custom", "legacy-cnn", "sweep"}; !slices.Equal(names, want) {
		t.Fatalf("experiments %v, want %v", names, want)
	}
	sweep := exps[2]
	var status []string
	for _, m := range sweep.Trials {
		status = append(status, m.Status)
	}
	if want := []string{"done", "done", "done", "failed", "done", "not run"}; !slices.Equal(status, want) {
		t.Errorf("sweep statuses %v, want %v (grid order)", status, want)
	}
	if !slices.Equal(sweep.Stale, []string{"57a1e0000001"}) || !sweep.HasBest {
		t.Errorf("stale %v, has best %v", sweep.Stale, sweep.HasBest)
	}
	if best := sweep.Best(); best == nil || best.Trial != "5eed00000005" {
		t.Errorf("best %v, want 5eed00000005", best)
	}
	cnn := exps[1]
	if cnn.Info.File != "" || len(cnn.Trials) != 1 || cnn.Title() != "legacy-cnn" || slices.Contains(cnn.Keys(), "hidden") {
		t.Errorf("legacy-cnn without experiment.json: %+v, keys %v", cnn.Info, cnn.Keys())
	}
}

func TestUnfinished(t *testing.T) {
	dir := copyTree(t)
	ck := filepath.Join(dir, "sweep", "5eed00000006", results.CheckpointDir)
	if err := os.MkdirAll(ck, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ck, "fold-0.gob"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	exps := load(t, dir)
	if got := exps[2].Trials[5].Status; got != StatusUnfinished {
		t.Errorf("a trial with checkpoints: status %q, want %q", got, StatusUnfinished)
	}
	if n := Notes(exps[2]); !strings.Contains(n, "- unfinished: `5eed00000006` (`nnx run experiments/sweep.yaml --only 6`)") {
		t.Errorf("notes:\n%s", n)
	}
}

func TestNoResults(t *testing.T) {
	empty := t.TempDir()
	for _, dir := range []string{filepath.Join(empty, "missing"), empty} {
		_, err := Load(dir)
		var nr *NoResultsError
		if !errors.As(err, &nr) {
			t.Fatalf("Load(%s): %v, want *NoResultsError", dir, err)
		}
		if want := "run 'nnx run experiments/<name>.yaml' to produce them"; !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if got := (&NoResultsError{Dir: "results"}).Error(); got != "no results in results/ (run 'nnx run experiments/<name>.yaml' to produce them)" {
		t.Errorf("message %q", got)
	}
}

// TestGolden pins every markdown file, the --format outputs, the terminal
// tables and the list of plots.
func TestGolden(t *testing.T) {
	exps := load(t, fixture)
	files, err := Files(exps)
	if err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	for _, name := range slices.Sorted(maps.Keys(files)) {
		list.WriteString(name + "\n")
		if strings.HasSuffix(name, ".md") {
			golden(t, strings.ReplaceAll(name, "/", "--"), files[name])
		}
	}
	golden(t, "files.txt", []byte(list.String()))
	for _, format := range Formats() {
		var b bytes.Buffer
		if err := WriteFormat(&b, format, exps); err != nil {
			t.Fatal(err)
		}
		golden(t, "tables."+format, b.Bytes())
	}
	var b bytes.Buffer
	if err := WriteTerminal(&b, exps); err != nil {
		t.Fatal(err)
	}
	golden(t, "terminal.txt", b.Bytes())
	if err := WriteFormat(&b, "xml", exps); err == nil {
		t.Error("format xml: no error")
	}
}

// TestDeterministic renders everything twice from freshly loaded results:
// identical bytes, PNGs included, and PNGs that decode at the promised size.
func TestDeterministic(t *testing.T) {
	a, err := Files(load(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Files(load(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))) {
		t.Fatalf("two renders give different files")
	}
	pngs := 0
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s: two renders differ", name)
		}
		if !strings.HasSuffix(name, ".png") {
			continue
		}
		pngs++
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w, h := 640, 400
		if strings.Contains(name, "/confusion-") {
			w, h = 560, 480
		}
		if cfg.Width != w || cfg.Height != h {
			t.Errorf("%s: %dx%d, want %dx%d", name, cfg.Width, cfg.Height, w, h)
		}
		if _, err := png.Decode(bytes.NewReader(data)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, chunk := range pngChunks(t, data) {
			if !slices.Contains([]string{"IHDR", "PLTE", "tRNS", "IDAT", "IEND"}, chunk) {
				t.Errorf("%s: has a %s chunk: metadata a PNG of nnx's should not carry", name, chunk)
			}
		}
	}
	// sweep: 4 learning + 4 loss curves, 2 axes, 1 confusion; custom and
	// legacy-cnn: 2 curves and a confusion each (custom's one axis has one value).
	if pngs != 11+3+3 {
		t.Errorf("%d plots, want 17", pngs)
	}
}

// pngChunks lists a PNG's chunk types in order.
func pngChunks(t *testing.T, data []byte) []string {
	t.Helper()
	var types []string
	for rest := data[8:]; len(rest) >= 12; {
		n := int(binary.BigEndian.Uint32(rest))
		if len(rest) < 12+n {
			t.Fatalf("truncated PNG chunk %q", rest[4:8])
		}
		types = append(types, string(rest[4:8]))
		rest = rest[12+n:]
	}
	return types
}

// TestWrite writes the report twice: the second run changes nothing; a
// plot the results no longer need is removed, other files are kept.
func TestWrite(t *testing.T) {
	dir := copyTree(t)
	exps := load(t, dir)
	files, err := Files(exps)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := Write(dir, exps, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != len(files) {
		t.Errorf("first write: %d changed, want %d", len(changed), len(files))
	}
	for _, name := range []string{"learning-0ld000000000.png", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, "sweep", PlotsDir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exps = load(t, dir)
	files2, err := Files(exps)
	if err != nil {
		t.Fatal(err)
	}
	changed, err = Write(dir, exps, files2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sweep/plots/learning-0ld000000000.png"}; !slices.Equal(changed, want) {
		t.Errorf("second write changed %v, want only the stale plot removed: %v", changed, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "sweep", PlotsDir, "notes.txt")); err != nil {
		t.Error("a file that is not a plot was removed")
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: not as rendered (%v)", name, err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestInject(t *testing.T) {
	exps := load(t, fixture)
	src, err := os.ReadFile("testdata/inject/good.md")
	if err != nil {
		t.Fatal(err)
	}
	block := func(name string) (string, error) {
		for _, e := range exps {
			if e.Name == name {
				return Block(e, "../results")
			}
		}
		return "", errors.New("no experiment " + name)
	}
	out, filled, err := InjectBytes("good.md", src, block)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(filled, []string{"sweep", "legacy-cnn"}) {
		t.Errorf("filled %v", filled)
	}
	golden(t, "inject-good.md", out)
	again, _, err := InjectBytes("good.md", out, block)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("a second injection changes the file (%v)", err)
	}
	crlf := bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n"))
	outCRLF, _, err := InjectBytes("good.md", crlf, block)
	if err != nil || !bytes.Equal(outCRLF, bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))) {
		t.Errorf("CRLF file: line endings not kept (%v)", err)
	}
}

func TestInjectErrors(t *testing.T) {
	dir := t.TempDir()
	resultsDir := copyTree(t)
	exps := load(t, resultsDir)
	for _, c := range []struct{ file, want string }{
		{"no-end.md", "no-end.md:3: report block for \"sweep\" has no end marker <!-- /nnx:report -->"},
		{"nested.md", "nested.md:2: report marker for \"custom\" inside the block for \"sweep\" opened at line 1"},
		{"unknown.md", "unknown.md:3: no experiment \"nosuch\" in "},
		{"no-markers.md", "no-markers.md: no <!-- nnx:report EXPERIMENT --> ... <!-- /nnx:report --> block to fill"},
		{"end-only.md", "end-only.md:2: <!-- /nnx:report --> without a <!-- nnx:report EXPERIMENT --> before it"},
	} {
		src, err := os.ReadFile(filepath.Join("testdata", "inject", c.file))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, c.file)
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Inject(path, resultsDir, exps)
		var ie *InjectError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.file, err, c.want)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, src) {
			t.Errorf("%s: changed despite the error", c.file)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 5 {
		t.Errorf("%d files in the directory, want the 5 originals (no temporary files)", len(entries))
	}
}

// TestInjectFile fills a README next to the results directory: links
// relative to the README, written atomically, unchanged on a second run.
func TestInjectFile(t *testing.T) {
	resultsDir := copyTree(t)
	readme := filepath.Join(filepath.Dir(resultsDir), "README.md")
	if err := os.WriteFile(readme, []byte("# P\n\n<!-- nnx:report custom -->\n<!-- /nnx:report -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exps := load(t, resultsDir)
	if _, err := Inject(readme, resultsDir, exps); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"](results/custom/README.md)", "](results/custom/plots/learning-ab0000000001.png)", "| ab0000000001 | optimizer=adam |"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("README lacks %q:\n%s", want, got)
		}
	}
	st, _ := os.Stat(readme)
	if _, err := Inject(readme, resultsDir, exps); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(readme)
	if !os.SameFile(st, st2) {
		t.Error("a second injection rewrote an unchanged file")
	}
}
