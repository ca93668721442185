package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/grid"
)

var update = flag.Bool("update", false, "rewrite the want.golden files of testdata/errors")

// noEnv is an environment with no NNX_ variables.
func noEnv(string) string { return "" }

// TestErrors walks testdata/errors: each case is a directory holding
// experiment.yaml (and the pipeline it names, or a shared one) and
// want.golden, the exact error that config.Load returns for it or, when Load
// succeeds, the one grid.Expand returns. `go test ./pkg/config -update`
// rewrites the goldens.
func TestErrors(t *testing.T) {
	dirs, err := os.ReadDir(filepath.Join("testdata", "errors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no cases in testdata/errors")
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", "errors", d.Name())
			got := loadAndExpandErr(t, filepath.Join(dir, "experiment.yaml"))
			golden := filepath.Join(dir, "want.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/config -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error mismatch\n--- got:\n%s--- want:\n%s", got, want)
			}
		})
	}
}

// loadAndExpandErr returns the error text, newline-terminated, of loading
// and expanding the experiment at path; it fails the test when there is
// none.
func loadAndExpandErr(t *testing.T, path string) string {
	t.Helper()
	l, err := config.Load(path, nil, noEnv)
	if err == nil {
		_, err = grid.Expand(l)
	}
	if err == nil {
		t.Fatalf("%s: config.Load and grid.Expand succeeded, want an error", path)
	}
	return err.Error() + "\n"
}
