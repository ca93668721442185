package strict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// structPtr checks that out is a non-nil pointer to a struct and returns the
// struct.
func structPtr(fn string, out any) (reflect.Value, error) {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("strict.%s: out must be a non-nil pointer to a struct, got %T", fn, out)
	}
	return v.Elem(), nil
}

// Decode decodes node (a DocumentNode or a MappingNode) into out, a pointer
// to a struct, strictly, recording in pos (which may be nil) the position of
// every field it sets. Fields absent from the YAML, or null in it, keep the
// values out already has; lists are replaced, maps are merged key by key. It
// reports all errors, not just the first, as Errors.
func Decode(file string, node *yaml.Node, out any, pos Positions) error {
	v, err := structPtr("Decode", out)
	if err != nil {
		return err
	}
	if node == nil {
		return nil
	}
	if node.Kind == yaml.DocumentNode {
		if len(node.Content) == 0 {
			return nil
		}
		node = node.Content[0]
	}
	d := newDecoder(file, pos)
	d.decodeValue(node, v, "")
	return d.errs.Err()
}

// DecodeFile reads and parses the YAML file at path and decodes it into out
// like Decode. It returns the root mapping node (an empty one for an empty
// file) even when decoding fails. A syntax error is reported as
// "<file>:<line>: <message>"; yaml.v3 does not tell the column.
func DecodeFile(path string, out any, pos Positions) (*yaml.Node, error) {
	if _, err := structPtr("DecodeFile", out); err != nil {
		return nil, err
	}
	root, err := ParseFile(path)
	if err != nil {
		return nil, err
	}
	return root, Decode(path, root, out, pos)
}

// ParseFile reads and parses a YAML file into its root mapping node, with
// syntax errors reported at file:line.
func ParseFile(path string) (*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data)
}

// parse parses data, which must hold at most one YAML document, and returns
// its root node; an empty or null document gives an empty mapping.
func parse(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, nil
		}
		return nil, syntaxError(file, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, Errors{{Pos: posOf(file, &next), Msg: "expected one YAML document, found another"}}.Err()
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if isNull(root) {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line, Column: root.Column}, nil
	}
	return root, nil
}

// syntaxError turns a yaml.v3 parse error ("yaml: line 3: did not find
// expected key") into Errors positioned in file.
func syntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{File: file}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil && line > 0 {
				pos.Line, msg = line, text
			}
		}
	}
	return Errors{{Pos: pos, Msg: msg}}.Err()
}

// SetPath decodes node into the field of out (a pointer to a struct) named
// by the dotted path ("train.learning_rate", "model.hidden"; a segment after
// a map field is a map key), with the same strictness and messages as
// Decode, and records the position of node in pos under path. A null node
// leaves the field unchanged. An unknown path is reported at node with a
// did-you-mean hint.
func SetPath(file string, out any, path string, node *yaml.Node, pos Positions) error {
	v, err := structPtr("SetPath", out)
	if err != nil {
		return err
	}
	if node != nil && node.Kind == yaml.DocumentNode {
		var root *yaml.Node
		if len(node.Content) > 0 {
			root = node.Content[0]
		}
		node = root
	}
	d := newDecoder(file, pos)
	segs := strings.Split(path, ".")
	if !d.checkPath(v.Type(), path, segs, node) {
		return d.errs.Err()
	}
	if isNull(resolve(node)) {
		return nil
	}
	d.pos.set(path, posOf(file, node))
	d.setPath(v, "", segs, node)
	return d.errs.Err()
}

// checkPath reports whether segs names a field of struct type t, reporting
// an error at node when it does not.
func (d *decoder) checkPath(t reflect.Type, path string, segs []string, node *yaml.Node) bool {
	root := t
	for i, s := range segs {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t.Kind() == reflect.Struct && !isOpaque(t):
			fields, err := d.structFields(t)
			if err != nil {
				d.fieldErr(node, path, "%v", err)
				return false
			}
			if f := findField(fields, s); f != nil {
				t = f.typ
				continue
			}
			d.unknownPath(node, path, root, fieldNames(fields), "")
			return false
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && !isOpaque(t):
			t = t.Elem()
		default:
			d.unknownPath(node, path, root, nil, strings.Join(segs[:i], "."))
			return false
		}
	}
	return true
}

// unknownPath reports path, which names no field of root: with a
// suggestion, else with the valid names at the level where it failed
// (names), else saying that leaf has no fields.
func (d *decoder) unknownPath(node *yaml.Node, path string, root reflect.Type, names []string, leaf string) {
	var msg string
	switch s := Suggest(path, sectionPaths(root)); {
	case s != "":
		msg = fmt.Sprintf("unknown field %q (did you mean %q?)", path, s)
	case len(names) > 0:
		msg = fmt.Sprintf("unknown field %q (valid: %s)", path, strings.Join(names, ", "))
	case leaf != "":
		msg = fmt.Sprintf("unknown field %q (%q has no fields)", path, leaf)
	default:
		msg = fmt.Sprintf("unknown field %q", path)
	}
	d.add(node, path, msg)
}

// sectionPaths is Paths(t) with the paths of the sections (nested structs)
// added before their first leaf.
func sectionPaths(t reflect.Type) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range Paths(t) {
		for i := range len(p) {
			if p[i] == '.' && !seen[p[:i]] {
				seen[p[:i]] = true
				out = append(out, p[:i])
			}
		}
		out = append(out, p)
	}
	return out
}

// setPath decodes node into the field of v named by segs (already checked
// by checkPath); prefix is the path of v.
func (d *decoder) setPath(v reflect.Value, prefix string, segs []string, node *yaml.Node) {
	if len(segs) == 0 {
		d.decodeValue(node, v, prefix)
		return
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		fields, _ := d.structFields(v.Type())
		if f := findField(fields, segs[0]); f != nil {
			d.setPath(fieldByIndex(v, f.index), join(prefix, f.name), segs[1:], node)
		}
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		kv := reflect.New(v.Type().Key()).Elem()
		kv.SetString(segs[0])
		ev := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(kv); old.IsValid() {
			ev.Set(old)
		}
		d.setPath(ev, join(prefix, segs[0]), segs[1:], node)
		v.SetMapIndex(kv, ev)
	}
}

// Normalizer is implemented by types written in more than one YAML form:
// NormalizeYAML rewrites a node into the one form the type's fields decode
// (for example a bare "relu" into the mapping {relu: {}}), keeping the
// node positions, and strict decoding goes on with the result.
type Normalizer interface {
	NormalizeYAML(n *yaml.Node) (*yaml.Node, error)
}
