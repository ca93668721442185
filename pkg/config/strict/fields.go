package strict

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// field is one YAML-visible field of a struct type.
type field struct {
	name  string // YAML key
	index []int  // for reflect.Value.FieldByIndex; may pass through inline structs
	typ   reflect.Type
}

// structFields lists the YAML-visible fields of struct type t in
// declaration order, flattening `yaml:",inline"` structs.
func structFields(t reflect.Type) ([]field, error) {
	var out []field
	seen := map[string]bool{}
	err := collectFields(t, nil, &out, seen, map[reflect.Type]bool{})
	return out, err
}

func collectFields(t reflect.Type, prefix []int, out *[]field, seen map[string]bool, active map[reflect.Type]bool) error {
	if active[t] {
		return fmt.Errorf("strict: %v inlines itself", t)
	}
	active[t] = true
	defer delete(active, t)
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		tag := sf.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		index := append(append([]int(nil), prefix...), i)
		if hasOpt(opts, "inline") {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				if !sf.IsExported() {
					return fmt.Errorf("strict: inline field %s of %v is an unexported pointer, which cannot be allocated", sf.Name, t)
				}
				ft = ft.Elem()
			}
			if ft.Kind() != reflect.Struct {
				return fmt.Errorf("strict: inline field %s of %v must be a struct or a pointer to one", sf.Name, t)
			}
			if err := collectFields(ft, index, out, seen, active); err != nil {
				return err
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		if seen[name] {
			return fmt.Errorf("strict: %v has two fields named %q", t, name)
		}
		seen[name] = true
		*out = append(*out, field{name: name, index: index, typ: sf.Type})
	}
	return nil
}

func hasOpt(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// fieldByIndex is reflect.Value.FieldByIndex for settable v, allocating nil
// inline struct pointers on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// isOpaque reports whether t is decoded as a whole rather than field by
// field: yaml.Node, time.Duration and yaml.Unmarshaler implementations.
func isOpaque(t reflect.Type) bool {
	return t == reflect.TypeFor[yaml.Node]() || t == reflect.TypeFor[time.Duration]() ||
		isUnmarshaler(t)
}

// isUnmarshaler reports whether t or *t implements yaml.Unmarshaler.
func isUnmarshaler(t reflect.Type) bool {
	u := reflect.TypeFor[yaml.Unmarshaler]()
	return t.Implements(u) || reflect.PointerTo(t).Implements(u)
}

// Paths lists the dotted paths of every settable leaf field of struct type t
// (or pointer to struct) in declaration order. Scalars, slices, maps and
// opaque types (yaml.Node, yaml.Unmarshaler) are leaves; nested structs and
// pointers to structs recurse; `yaml:"-"` fields are skipped. A type that
// cannot be decoded yields the paths found before the problem.
func Paths(t reflect.Type) []string {
	var out []string
	appendPaths(&out, "", t, map[reflect.Type]bool{})
	return out
}

func appendPaths(out *[]string, prefix string, t reflect.Type, active map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || isOpaque(t) || active[t] {
		if prefix != "" {
			*out = append(*out, prefix)
		}
		return
	}
	active[t] = true
	defer delete(active, t)
	fields, _ := structFields(t)
	for _, f := range fields {
		appendPaths(out, join(prefix, f.name), f.typ, active)
	}
}

// join appends name to the dotted path prefix.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
