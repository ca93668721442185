package serve

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

var mnist = shape{size: 784, rows: 28, cols: 28}

// tiny is the image shape the fuzz targets use: the parser does not depend
// on the size, and small inputs let the fuzzer explore (and minimise) far
// faster than 784 numbers do.
var tiny = shape{size: 9, rows: 3, cols: 3}

// TestNumbers checks the fast number path against strconv, bit for bit.
func TestNumbers(t *testing.T) {
	for _, in := range []string{"0", "-0", "7", "255", "254.999", "0.1", "0.3", "12.34", "1e2", "1E-2", "2.5e+1",
		"123456789012345", "0.123456789012345", "1234567890123456", "0.1234567890123456789", "1e999", "-1e999",
		"4.9e-324", "1e-400", "99999999999999999999", "17976931348623157e292"} {
		s := &scanner{b: []byte(in)}
		v, text, err := s.number()
		want, werr := strconv.ParseFloat(in, 64)
		if werr != nil && !math.IsInf(want, 0) {
			t.Fatalf("%s: bad test case: %v", in, werr)
		}
		if err != nil || string(text) != in || math.Float64bits(v) != math.Float64bits(want) || s.i != len(in) {
			t.Errorf("%s: got %v %q %v, want %v", in, v, text, err, want)
		}
	}
	for _, in := range []string{"-", "01", "1.", ".5", "1e", "1e+", "+1", "--1", "0x1"} {
		s := &scanner{b: []byte(in)}
		if _, _, err := s.number(); err == nil && s.i == len(in) {
			t.Errorf("%q: accepted as a whole number", in)
		}
	}
}

// reference reads a /api/neural body with encoding/json: the values (as
// pixel/255) and the method, and whether the body is acceptable for
// images of shape sh.
func reference(body []byte, sh shape, models int) (x []float32, method int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, 0, false
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, 0, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, false
		}
		k := t.(string)
		if _, dup := fields[k]; dup && (k == "gridValues" || k == "method") {
			return nil, 0, false // the parser checks every copy; encoding/json keeps the last
		}
		fields[k] = raw
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, 0, false
	}
	if _, err := dec.Token(); err == nil || !json.Valid(body) {
		return nil, 0, false // trailing data
	}
	var values []any
	var grid any
	if json.Unmarshal(fields["gridValues"], &grid) != nil {
		return nil, 0, false
	}
	switch g := grid.(type) {
	case []any:
		if len(g) == sh.rows {
			if _, nested := g[0].([]any); nested {
				for _, row := range g {
					r, ok := row.([]any)
					if !ok || len(r) != sh.cols {
						return nil, 0, false
					}
					values = append(values, r...)
				}
				break
			}
		}
		values = g
	default:
		return nil, 0, false
	}
	if len(values) != sh.size {
		return nil, 0, false
	}
	for _, v := range values {
		f, ok := v.(float64)
		if !ok || !(f >= 0 && f <= 255) {
			return nil, 0, false
		}
		x = append(x, float32(f)/255)
	}
	if raw, has := fields["method"]; has {
		var m any
		if json.Unmarshal(raw, &m) != nil {
			return nil, 0, false
		}
		f, ok := m.(float64)
		if !ok || f != math.Trunc(f) || f < 0 || f >= float64(models) {
			return nil, 0, false
		}
		method = int(f)
	}
	return x, method, true
}

// FuzzParseNeural checks the hand-written parser against encoding/json:
// it never panics, accepts exactly the bodies encoding/json reads as a
// valid request, and reads the same values.
func FuzzParseNeural(f *testing.F) {
	for _, seed := range []string{
		`{"gridValues":[0,1,2,3,4,5,6,7,255],"method":1}`,
		`{"method":0, "gridValues": [[12.5,0,3],[4,5e1,6],[7,8,9]]}`,
		` { "x" : {"a":[1,{"b":null}],"c":"\u00e9\n"} , "gridValues":[0,0,0,0,0,0,0,0,0]}` + "\n",
		`{"gridValues":[0,0,0,0,0,0,0,0,0,1]}`,
		`{"grid\u0056alues":[1e2,0,0,0,0,0,0,0,0]}`,
		`{"gridValues":[-0,0,0,0,0,0,0,0,0],"method":1.0e0}`,
		`{"gridValues":"`, `[`, `{"a":[[[[[[[[[[`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		x := make([]float32, tiny.size)
		req, err := parseNeural(body, x, tiny, 2)
		want, method, ok := reference(body, tiny, 2)
		if err == nil && !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if err != nil {
			if _, is := err.(*inputError); !is {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if ok {
				t.Fatalf("refused a valid request %q: %v", body, err)
			}
			return
		}
		if !ok {
			// The parser ignores duplicates of other keys and encoding/json's
			// case-insensitive matching does not apply: both readers agree on
			// what they accept only up to those.
			return
		}
		if req.method != method {
			t.Fatalf("method %d, encoding/json %d", req.method, method)
		}
		for i := range want {
			if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
				t.Fatalf("value %d: %v, encoding/json %v", i, x[i], want[i])
			}
		}
	})
}

// FuzzParseBatch checks that no body makes the batch parser panic, and
// that what it accepts is valid JSON with values in range.
func FuzzParseBatch(f *testing.F) {
	for _, seed := range []string{`{"inputs":[[1,2,3,4,5,6,7,8,9]]}`, `{"inputs":[[[1,2,3],[4,5,6],[7,8,9]],[0,0,0,0,0,0,0,0,0]]}`,
		`{"inputs":[]}`, `{"inputs":[[`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var x []float32
		n, err := parseBatch(body, &x, tiny, 4)
		if err != nil {
			if _, is := err.(*inputError); !is {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if n < 1 || n > 4 || len(x) < n*tiny.size {
			t.Fatalf("%d images in %d values", n, len(x))
		}
		for _, v := range x[:n*tiny.size] {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %v outside [0, 1]", v)
			}
		}
	})
}

func BenchmarkParseNeural(b *testing.B) {
	var rows []string
	for r := range 28 {
		var vs []string
		for c := range 28 {
			vs = append(vs, strconv.Itoa((r*c)%256))
		}
		rows = append(rows, "["+strings.Join(vs, ",")+"]")
	}
	body := []byte(`{"gridValues":[` + strings.Join(rows, ",") + `],"method":0}`)
	x := make([]float32, 784)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseNeural(body, x, mnist, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseNeuralStdlib is encoding/json on the same body, for
// comparison with BenchmarkParseNeural.
func BenchmarkParseNeuralStdlib(b *testing.B) {
	var rows []string
	for r := range 28 {
		var vs []string
		for c := range 28 {
			vs = append(vs, strconv.Itoa((r*c)%256))
		}
		rows = append(rows, "["+strings.Join(vs, ",")+"]")
	}
	body := []byte(`{"gridValues":[` + strings.Join(rows, ",") + `],"method":0}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req struct {
			GridValues [][]float64 `json:"gridValues"`
			Method     int         `json:"method"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}
