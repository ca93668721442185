package strict

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Limits of one decode: maxVisits bounds the number of nodes walked, so
// that a small file cannot expand into an enormous tree through nested
// aliases; after maxErrors errors decoding stops.
const (
	maxVisits = 1 << 20
	maxErrors = 100
)

// decoder holds the state of one Decode or SetPath call.
type decoder struct {
	file    string
	pos     Positions
	errs    Errors
	fields  map[reflect.Type][]field // structFields cache
	ferrs   map[reflect.Type]error   // structFields errors
	active  map[*yaml.Node]bool      // alias and merge targets being decoded
	visits  int
	aborted bool
}

func newDecoder(file string, pos Positions) *decoder {
	return &decoder{
		file:   file,
		pos:    pos,
		fields: map[reflect.Type][]field{},
		ferrs:  map[reflect.Type]error{},
		active: map[*yaml.Node]bool{},
	}
}

// add records an error at node n.
func (d *decoder) add(n *yaml.Node, field, msg string) {
	if d.aborted {
		return
	}
	if len(d.errs) == maxErrors {
		d.aborted = true
		msg = "too many errors, stopping"
	}
	d.errs = append(d.errs, &Error{Pos: posOf(d.file, n), Field: field, Msg: msg})
}

// fieldErr records an error at node n whose message is prefixed by the
// field path ("train.epochs: expected an integer, got \"ten\"").
func (d *decoder) fieldErr(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.add(n, path, msg)
}

// structFields is the cached structFields(t).
func (d *decoder) structFields(t reflect.Type) ([]field, error) {
	if fs, ok := d.fields[t]; ok {
		return fs, d.ferrs[t]
	}
	fs, err := structFields(t)
	d.fields[t], d.ferrs[t] = fs, err
	return fs, err
}

// visit counts one node and reports whether decoding may go on.
func (d *decoder) visit(n *yaml.Node, path string) bool {
	if d.aborted {
		return false
	}
	d.visits++
	if d.visits > maxVisits {
		d.fieldErr(n, path, "document too large (more than %d values after expanding aliases)", maxVisits)
		d.aborted = true
		return false
	}
	return true
}

// enter resolves n when it is an alias and marks the target as being
// decoded; leave must be called with the result when ok.
func (d *decoder) enter(n *yaml.Node, path string) (r *yaml.Node, ok bool) {
	if n.Kind != yaml.AliasNode {
		return n, true
	}
	r = n.Alias
	if r == nil {
		d.fieldErr(n, path, "unknown alias *%s", n.Value)
		return nil, false
	}
	if d.active[r] {
		d.fieldErr(n, path, "alias *%s contains itself", n.Value)
		return nil, false
	}
	d.active[r] = true
	return r, true
}

func (d *decoder) leave(n, r *yaml.Node) {
	if n != r {
		delete(d.active, r)
	}
}

// resolve follows alias n to its target without marking it.
func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// isNull reports whether n is a null scalar (~, null or empty).
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		s := n.Value
		if utf8.RuneCountInString(s) > 40 {
			s = string([]rune(s)[:37]) + "..."
		}
		return strconv.Quote(s)
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.DocumentNode:
		return "a document"
	default:
		return "an alias"
	}
}

// decodeValue decodes n into the settable v; path names v in messages. A
// null leaves v unchanged. Errors are reported at n, so a bad alias value is
// reported where the alias is used.
func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, path string) {
	if !d.visit(n, path) {
		return
	}
	r, ok := d.enter(n, path)
	if !ok {
		return
	}
	defer d.leave(n, r)
	if isNull(r) {
		return
	}
	d.decodeResolved(n, r, v, path)
}

// decodeResolved decodes r, which is n or its alias target and not null,
// into v.
func (d *decoder) decodeResolved(n, r *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if v.CanAddr() && t.Kind() != reflect.Pointer {
		if nz, ok := v.Addr().Interface().(Normalizer); ok {
			nr, err := nz.NormalizeYAML(r)
			if err != nil {
				d.fieldErr(n, path, "%s", err.Error())
				return
			}
			r = nr
		}
	}
	switch {
	case t == reflect.TypeFor[yaml.Node]():
		v.Set(reflect.ValueOf(*r))
		return
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decodeResolved(n, r, v.Elem(), path)
		return
	case v.CanAddr() && v.Addr().Type().Implements(reflect.TypeFor[yaml.Unmarshaler]()):
		u := v.Addr().Interface().(yaml.Unmarshaler)
		if err := u.UnmarshalYAML(r); err != nil {
			d.fieldErr(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return
	case t == reflect.TypeFor[time.Duration]():
		d.decodeDuration(n, r, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, r, v, path)
	case reflect.Map:
		d.decodeMap(n, r, v, path)
	case reflect.Slice:
		d.decodeSlice(n, r, v, path)
	case reflect.String:
		if r.Kind != yaml.ScalarNode {
			d.fieldErr(n, path, "expected a string, got %s", describe(r))
			return
		}
		v.SetString(r.Value)
	case reflect.Bool:
		var b bool
		if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!bool" || r.Decode(&b) != nil {
			d.fieldErr(n, path, "expected true or false, got %s", describe(r))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		d.decodeInt(n, r, v, path)
	case reflect.Float32, reflect.Float64:
		d.decodeFloat(n, r, v, path)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.fieldErr(n, path, "unsupported Go type %v", t)
			return
		}
		var x any
		if err := r.Decode(&x); err != nil {
			d.fieldErr(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.fieldErr(n, path, "unsupported Go type %v", t)
	}
}

// scalarNumber decodes a scalar tagged !!int or !!float.
func scalarNumber(r *yaml.Node) (any, bool) {
	if r.Kind != yaml.ScalarNode {
		return nil, false
	}
	if tag := r.ShortTag(); tag != "!!int" && tag != "!!float" {
		return nil, false
	}
	var x any
	if err := r.Decode(&x); err != nil {
		return nil, false
	}
	return x, true
}

// decodeInt decodes an integer into v, which has an int or uint kind.
// Floats with an integral value ("1e3") are accepted when in range.
func (d *decoder) decodeInt(n, r *yaml.Node, v reflect.Value, path string) {
	x, ok := scalarNumber(r)
	if !ok {
		d.fieldErr(n, path, "expected an integer, got %s", describe(r))
		return
	}
	signed := v.CanInt()
	var (
		neg bool   // the value is negative, and i holds it
		i   int64  // the value when neg
		u   uint64 // the value when !neg
	)
	switch x := x.(type) {
	case int:
		neg, i, u = x < 0, int64(x), uint64(x)
	case int64:
		neg, i, u = x < 0, x, uint64(x)
	case uint64:
		u = x
	case float64:
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0) || x != math.Trunc(x):
			d.fieldErr(n, path, "expected an integer, got %s", describe(r))
			return
		case x < 0 && x >= math.MinInt64:
			neg, i = true, int64(x)
		case x >= 0 && x < math.MaxUint64:
			u = uint64(x)
		default:
			d.fieldErr(n, path, "%s overflows %v", r.Value, v.Kind())
			return
		}
	default:
		d.fieldErr(n, path, "expected an integer, got %s", describe(r))
		return
	}
	switch {
	case signed && neg && !v.OverflowInt(i):
		v.SetInt(i)
	case signed && !neg && u <= math.MaxInt64 && !v.OverflowInt(int64(u)):
		v.SetInt(int64(u))
	case !signed && !neg && !v.OverflowUint(u):
		v.SetUint(u)
	default:
		d.fieldErr(n, path, "%s overflows %v", r.Value, v.Kind())
	}
}

// decodeFloat decodes a number into v, which has a float kind.
func (d *decoder) decodeFloat(n, r *yaml.Node, v reflect.Value, path string) {
	x, ok := scalarNumber(r)
	var f float64
	switch x := x.(type) {
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float64:
		f = x
	default:
		ok = false
	}
	if !ok {
		d.fieldErr(n, path, "expected a number, got %s", describe(r))
		return
	}
	if v.OverflowFloat(f) {
		d.fieldErr(n, path, "%s overflows %v", r.Value, v.Kind())
		return
	}
	v.SetFloat(f)
}

// decodeDuration decodes a time.Duration written like "90s" or "1h30m".
func (d *decoder) decodeDuration(n, r *yaml.Node, v reflect.Value, path string) {
	if r.Kind == yaml.ScalarNode {
		if dur, err := time.ParseDuration(r.Value); err == nil {
			v.SetInt(int64(dur))
			return
		}
	}
	d.fieldErr(n, path, "expected a duration like \"90s\" or \"1h30m\", got %s", describe(r))
}

// decodeSlice replaces v with the elements of sequence r.
func (d *decoder) decodeSlice(n, r *yaml.Node, v reflect.Value, path string) {
	if r.Kind != yaml.SequenceNode {
		d.fieldErr(n, path, "expected a list, got %s", describe(r))
		return
	}
	d.pos.dropElems(path)
	s := reflect.MakeSlice(v.Type(), len(r.Content), len(r.Content))
	for i, e := range r.Content {
		d.decodeEntry(nil, e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// decodeEntry decodes val, the value of key k (nil for list elements), into
// v and records its position. It reports whether val was not null.
func (d *decoder) decodeEntry(k, val *yaml.Node, v reflect.Value, path string) bool {
	r := resolve(val)
	if isNull(r) {
		return false
	}
	if k != nil && r.Kind == yaml.MappingNode {
		d.pos.set(path, posOf(d.file, k))
	} else {
		d.pos.set(path, posOf(d.file, val))
	}
	d.decodeValue(val, v, path)
	return true
}

// decodeStruct decodes mapping r into struct v field by field.
func (d *decoder) decodeStruct(n, r *yaml.Node, v reflect.Value, path string) {
	if r.Kind != yaml.MappingNode {
		d.fieldErr(n, path, "expected a mapping, got %s", describe(r))
		return
	}
	fields, err := d.structFields(v.Type())
	if err != nil {
		d.fieldErr(n, path, "%v", err)
		return
	}
	d.eachPair(r, path, func(k, val *yaml.Node) {
		f := findField(fields, k.Value)
		if f == nil {
			d.unknownKey(k, path, fields)
			return
		}
		d.decodeEntry(k, val, fieldByIndex(v, f.index), join(path, f.name))
	})
}

// findField returns the field named name, or nil.
func findField(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

// fieldNames lists the names of fields in order.
func fieldNames(fields []field) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

// unknownKey reports key k, which names no field of the struct at path.
func (d *decoder) unknownKey(k *yaml.Node, path string, fields []field) {
	full := join(path, k.Value)
	names := fieldNames(fields)
	var msg string
	switch s := Suggest(k.Value, names); {
	case s != "":
		msg = fmt.Sprintf("unknown field %q (did you mean %q?)", full, join(path, s))
	case len(names) > 0:
		msg = fmt.Sprintf("unknown field %q (valid: %s)", full, strings.Join(names, ", "))
	default:
		msg = fmt.Sprintf("unknown field %q (no fields allowed here)", full)
	}
	d.add(k, full, msg)
}

// decodeMap decodes mapping r into the map v (string keys), adding to or
// overwriting the entries v already has.
func (d *decoder) decodeMap(n, r *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fieldErr(n, path, "unsupported Go type %v (map keys must be strings)", t)
		return
	}
	if r.Kind != yaml.MappingNode {
		d.fieldErr(n, path, "expected a mapping, got %s", describe(r))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	d.eachPair(r, path, func(k, val *yaml.Node) {
		kv := reflect.New(t.Key()).Elem()
		kv.SetString(k.Value)
		ev := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(kv); old.IsValid() {
			ev.Set(old)
		}
		if d.decodeEntry(k, val, ev, join(path, k.Value)) {
			v.SetMapIndex(kv, ev)
		}
	})
}

// eachPair calls fn for each key/value pair of mapping m in file order,
// after those of mappings merged in with "<<" so that explicit keys win. It
// reports keys that are not scalars and duplicate keys, and skips them.
func (d *decoder) eachPair(m *yaml.Node, path string, fn func(k, val *yaml.Node)) {
	var merges, pairs []*yaml.Node
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, val := resolve(m.Content[i]), m.Content[i+1]
		if isMergeKey(k) {
			merges = append(merges, val)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fieldErr(k, path, "expected a string key, got %s", describe(k))
			continue
		}
		if f, dup := first[k.Value]; dup {
			full := join(path, k.Value)
			d.add(k, full, fmt.Sprintf("duplicate field %q (first at %d:%d)", full, f.Line, f.Column))
			continue
		}
		first[k.Value] = k
		pairs = append(pairs, k, val)
	}
	for _, mv := range merges {
		d.merge(mv, path, fn)
	}
	for i := 0; i < len(pairs); i += 2 {
		fn(pairs[i], pairs[i+1])
	}
}

// isMergeKey reports whether k is the merge key "<<".
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// merge applies the value of a "<<" key: a mapping or a list of mappings,
// where earlier mappings in the list win.
func (d *decoder) merge(mv *yaml.Node, path string, fn func(k, val *yaml.Node)) {
	if !d.visit(mv, path) {
		return
	}
	r, ok := d.enter(mv, path)
	if !ok {
		return
	}
	defer d.leave(mv, r)
	switch r.Kind {
	case yaml.MappingNode:
		d.eachPair(r, path, fn)
		return
	case yaml.SequenceNode:
		for i := len(r.Content) - 1; i >= 0; i-- {
			if e := resolve(r.Content[i]); e.Kind != yaml.MappingNode {
				d.fieldErr(r.Content[i], path, "merge (<<) expects a mapping or a list of mappings, got %s in the list", describe(e))
				continue
			}
			d.merge(r.Content[i], path, fn)
		}
		return
	}
	d.fieldErr(mv, path, "merge (<<) expects a mapping or a list of mappings, got %s", describe(r))
}
