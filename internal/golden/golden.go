// Package golden compares test output with golden files, goreleaser style:
// a test package declares its own -update flag and passes it in.
package golden

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Check compares got with the file at path, or writes got there when
// update is set. pkg names the package for the hint in failures.
func Check(t *testing.T, path string, got []byte, update bool, pkg string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test %s -update to create it)", err, pkg)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test %s -update rewrites it)\n--- got:\n%s\n--- want:\n%s",
			filepath.Base(path), pkg, got, want)
	}
}
