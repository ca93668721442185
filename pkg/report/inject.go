package report

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nnx-dev/nnx/pkg/results"
)

// The markers --inject looks for, each alone on its line:
//
//	<!-- nnx:report EXPERIMENT -->
//	...replaced...
//	<!-- /nnx:report -->
//
// Markers inside fenced code blocks are text, not markers.
const (
	StartMarker = "<!-- nnx:report %s -->"
	EndMarker   = "<!-- /nnx:report -->"
)

// Marker patterns, compiled per call: no package-level state.
func startPattern() *regexp.Regexp { return regexp.MustCompile(`^<!--\s*nnx:report\s+(\S+)\s*-->$`) }
func endPattern() *regexp.Regexp   { return regexp.MustCompile(`^<!--\s*/nnx:report\s*-->$`) }

// InjectError is a problem with a markdown file's markers, at a line.
type InjectError struct {
	File string
	Line int // from 1; 0: the whole file
	Msg  string
}

// Error implements error: "FILE:LINE: message".
func (e *InjectError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// noMarkers is the error for a markdown file without report markers.
const noMarkers = "no <!-- nnx:report EXPERIMENT --> ... <!-- /nnx:report --> block to fill; " +
	"put one where an experiment's table belongs"

// InjectBytes replaces the lines between each start marker and its end
// marker in src with block(NAME), keeping the markers and every other byte.
// name is the file's name for errors. A start marker without an end, a
// start inside a block, an end without a start, an unknown experiment (an
// error from block) and a file without markers are *InjectErrors. It
// returns the new text and the names it filled, in file order.
func InjectBytes(name string, src []byte, block func(experiment string) (string, error)) ([]byte, []string, error) {
	start, end := startPattern(), endPattern()
	eol := "\n"
	if bytes.Contains(src, []byte("\r\n")) {
		eol = "\r\n"
	}
	lines := strings.SplitAfter(string(src), "\n")
	var out strings.Builder
	var filled []string
	open, openLine := "", 0 // the block being replaced
	fence := ""             // the open code fence
	for i, raw := range lines {
		ln := i + 1
		text := strings.TrimSpace(raw)
		if open == "" {
			// Code fences: markers shown inside them are examples.
			f := fenceOf(text)
			switch {
			case fence == "" && f != "":
				fence = f
			case fence != "" && len(f) >= len(fence) && f[0] == fence[0] && f == text:
				fence = ""
			}
			if fence != "" || f != "" {
				out.WriteString(raw)
				continue
			}
		}
		if m := start.FindStringSubmatch(text); m != nil {
			if open != "" {
				return nil, nil, &InjectError{name, ln, fmt.Sprintf("report marker for %q inside the block for %q opened at line %d (markers do not nest; close it with %s first)", m[1], open, openLine, EndMarker)}
			}
			body, err := block(m[1])
			if err != nil {
				return nil, nil, &InjectError{name, ln, err.Error()}
			}
			out.WriteString(raw)
			if !strings.HasSuffix(raw, "\n") {
				out.WriteString(eol)
			}
			out.WriteString(eol + strings.ReplaceAll(body, "\n", eol) + eol)
			open, openLine = m[1], ln
			filled = append(filled, m[1])
			continue
		}
		if end.MatchString(text) {
			if open == "" {
				return nil, nil, &InjectError{name, ln, EndMarker + " without a " + fmt.Sprintf(StartMarker, "EXPERIMENT") + " before it"}
			}
			open = ""
			out.WriteString(raw)
			continue
		}
		if open == "" {
			out.WriteString(raw)
		}
	}
	if open != "" {
		return nil, nil, &InjectError{name, openLine, fmt.Sprintf("report block for %q has no end marker %s", open, EndMarker)}
	}
	if len(filled) == 0 {
		return nil, nil, &InjectError{name, 0, noMarkers}
	}
	return []byte(out.String()), filled, nil
}

// fenceOf returns the fence (``` or ~~~, as long as written) a line opens
// or closes, or "".
func fenceOf(text string) string {
	for _, c := range []string{"`", "~"} {
		n := len(text) - len(strings.TrimLeft(text, c))
		if n >= 3 {
			return strings.Repeat(c, n)
		}
	}
	return ""
}

// Injected computes what Inject writes: the markdown file's current bytes
// and its bytes with every report block filled, without writing.
func Injected(file, resultsDir string, exps []*Experiment) (src, out []byte, filled []string, err error) {
	src, err = os.ReadFile(file)
	if err != nil {
		return nil, nil, nil, err
	}
	rel, err := relDir(filepath.Dir(file), resultsDir)
	if err != nil {
		return nil, nil, nil, err
	}
	byName := map[string]*Experiment{}
	var names []string
	for _, e := range exps {
		byName[e.Name] = e
		names = append(names, e.Name)
	}
	out, filled, err = InjectBytes(file, src, func(name string) (string, error) {
		e, ok := byName[name]
		if !ok {
			return "", fmt.Errorf("no experiment %q in %s (have: %s)", name, filepath.ToSlash(resultsDir), strings.Join(names, ", "))
		}
		return Block(e, rel)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return src, out, filled, nil
}

// Inject fills the report blocks of the markdown file with the
// experiments' blocks (Block), linking to resultsDir relative to the
// file's directory. It writes atomically, and only when something
// changed; on any error the file is untouched. It returns the experiment
// names it filled.
func Inject(file, resultsDir string, exps []*Experiment) ([]string, error) {
	src, out, filled, err := Injected(file, resultsDir, exps)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(out, src) {
		if err := results.WriteFile(file, out); err != nil {
			return nil, err
		}
	}
	return filled, nil
}

// relDir is the slash path from dir to target.
func relDir(dir, target string) (string, error) {
	a, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	b, err := filepath.Abs(target)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(a, b)
	if err != nil {
		return "", errors.New("cannot link " + target + " from " + dir + ": " + err.Error())
	}
	return filepath.ToSlash(rel), nil
}
