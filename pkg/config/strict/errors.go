// Package strict decodes YAML nodes into Go structs strictly: unknown keys,
// wrong types and duplicate keys are errors that name file:line:col and the
// field, with did-you-mean hints.
package strict

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Pos is a position in a YAML file.
type Pos struct {
	File      string
	Line, Col int
}

// String formats p as "file:line:col". It is just File when Line is 0, and
// "file:line" when Col is 0.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	b.WriteString(strconv.Itoa(p.Line))
	if p.Col != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Col))
	}
	return b.String()
}

// posOf returns the position of n in file.
func posOf(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

// Error is one decoding or validation error.
type Error struct {
	Pos   Pos
	Field string // dotted path, e.g. "train.learning_rate" or "model.hidden[1]"
	Msg   string // the message, already naming the field where it matters
}

// Error formats e as "<pos>: <msg>", or just the message when the position
// is empty.
func (e *Error) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": " + e.Msg
	}
	return e.Msg
}

// Errors is a list of errors, sorted by file, line and col.
type Errors []*Error

// Error joins the messages of es with newlines.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns nil when es is empty, else es sorted (stably, in place) by
// file, line and col.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}

// sort orders es by file, line and col, keeping the order of ties.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
		)
	})
}

// Positions maps a dotted field path to where its value was written: the
// value node's position, or for a mapping key that names a section (a struct
// or map value) the key's position. Later decodes overwrite earlier ones.
type Positions map[string]Pos

// Lookup returns the position of path, or else of its longest recorded
// prefix ("train.epochs" falls back to "train", "model.hidden[1]" to
// "model.hidden").
func (p Positions) Lookup(path string) (Pos, bool) {
	for {
		if pos, ok := p[path]; ok {
			return pos, true
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return Pos{}, false
		}
		path = path[:i]
	}
}

// set records the position of path; p may be nil.
func (p Positions) set(path string, pos Pos) {
	if p != nil && path != "" {
		p[path] = pos
	}
}

// dropElems forgets the positions recorded for the elements of the list at
// path, which is being replaced as a whole.
func (p Positions) dropElems(path string) {
	if p == nil || path == "" {
		return
	}
	prefix := path + "["
	for k := range p {
		if strings.HasPrefix(k, prefix) {
			delete(p, k)
		}
	}
}
