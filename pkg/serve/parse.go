package serve

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// maxDepth bounds the nesting of JSON values the parser skips, as
// encoding/json bounds it.
const maxDepth = 10000

// inputError is a request the server refuses, with its status and a
// message that names the problem.
type inputError struct {
	status int
	msg    string
}

func (e *inputError) Error() string { return e.msg }

func badf(format string, args ...any) *inputError {
	return &inputError{status: 400, msg: fmt.Sprintf(format, args...)}
}

// shape is what one image looks like on the wire: size values, flat or as
// rows of cols.
type shape struct {
	size, rows, cols int
}

// want describes the accepted forms of an image, for errors.
func (sh shape) want() string {
	if sh.rows > 0 {
		return fmt.Sprintf("%d numbers or %d rows of %d", sh.size, sh.rows, sh.cols)
	}
	return fmt.Sprintf("%d numbers", sh.size)
}

// scanner reads a JSON document with positions for errors. It never
// panics on malformed input: every read is bounds-checked.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// syntax is an error about malformed JSON at the current position.
func (s *scanner) syntax(what string) *inputError {
	if s.i >= len(s.b) {
		return badf("invalid JSON: unexpected end of body, want %s", what)
	}
	return badf("invalid JSON at byte %d: want %s, got %s", s.i, what, s.token())
}

// token quotes the text at the current position, shortened, for errors.
func (s *scanner) token() string {
	end := s.i
	for end < len(s.b) && end-s.i < 20 {
		c := s.b[end]
		if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			break
		}
		end++
	}
	if end == s.i {
		end++
	}
	return strconv.Quote(string(s.b[s.i:end]))
}

func (s *scanner) expect(c byte, what string) error {
	if s.peek() != c {
		return s.syntax(what)
	}
	s.i++
	return nil
}

// str reads a string and returns its raw contents (escapes undecoded) and
// whether it has escapes.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.syntax("a string")
	}
	start := s.i
	s.i++
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start+1 : s.i-1], escaped, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, badf("invalid JSON at byte %d: control character in a string", s.i)
		default:
			s.i++
		}
	}
	s.i = len(s.b)
	return nil, false, s.syntax("the end of a string")
}

// escape checks the escape sequence at s.i (a backslash) and moves past it.
func (s *scanner) escape() error {
	if s.i+1 >= len(s.b) {
		s.i = len(s.b)
		return s.syntax("the end of a string")
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return nil
	case 'u':
		if s.i+6 <= len(s.b) {
			if _, err := strconv.ParseUint(string(s.b[s.i+2:s.i+6]), 16, 16); err == nil {
				s.i += 6
				return nil
			}
		}
	}
	return badf("invalid JSON at byte %d: bad escape in a string", s.i)
}

// key reads an object key and the colon after it. The key aliases the
// body unless it has escapes.
func (s *scanner) key() ([]byte, error) {
	raw, escaped, err := s.str()
	if err != nil {
		return nil, err
	}
	if escaped {
		var k string
		if err := json.Unmarshal(s.b[s.i-len(raw)-2:s.i], &k); err != nil {
			return nil, badf("invalid JSON: bad string %s: %v", strconv.Quote(string(raw)), err)
		}
		raw = []byte(k)
	}
	return raw, s.expect(':', `":" after an object key`)
}

// literal reads true, false or null.
func (s *scanner) literal() error {
	for _, lit := range []string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return nil
		}
	}
	return s.syntax("a JSON value")
}

// skip reads any JSON value.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return badf("invalid JSON at byte %d: nested deeper than %d", s.i, maxDepth)
	}
	switch c := s.peek(); {
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		_, _, err := s.number()
		return err
	case c == '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.peek() == ']' {
				s.i++
				return nil
			}
			if err := s.expect(',', `"," or "]"`); err != nil {
				return err
			}
		}
	case c == '{':
		s.i++
		if s.peek() == '}' {
			s.i++
			return nil
		}
		for {
			if _, err := s.key(); err != nil {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.peek() == '}' {
				s.i++
				return nil
			}
			if err := s.expect(',', `"," or "}"`); err != nil {
				return err
			}
		}
	default:
		return s.literal()
	}
}

// pow10 holds the powers of ten a float64 represents exactly.
func pow10(n int) float64 {
	p := 1.0
	for range n {
		p *= 10
	}
	return p
}

// number reads a JSON number and returns its value and text. Plain
// decimals of up to 15 digits are converted directly (exactly, as strconv
// would); anything else goes through strconv.ParseFloat.
func (s *scanner) number() (float64, []byte, error) {
	s.ws()
	start := s.i
	neg := false
	if s.i < len(s.b) && s.b[s.i] == '-' {
		neg = true
		s.i++
	}
	var mant uint64
	digits, frac := 0, 0
	intStart := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		mant = mant*10 + uint64(s.b[s.i]-'0')
		digits++
		s.i++
	}
	if s.i == intStart {
		s.i = start
		return 0, nil, s.syntax("a number")
	}
	if s.b[intStart] == '0' && s.i-intStart > 1 {
		s.i = intStart
		return 0, nil, s.syntax("a number without leading zeros")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		fracStart := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			mant = mant*10 + uint64(s.b[s.i]-'0')
			digits++
			s.i++
		}
		frac = s.i - fracStart
		if frac == 0 {
			return 0, nil, s.syntax("digits after the decimal point")
		}
	}
	exp := false
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		exp = true
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		expStart := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		if s.i == expStart {
			return 0, nil, s.syntax("digits in the exponent")
		}
	}
	text := s.b[start:s.i]
	if !exp && digits <= 15 {
		v := float64(mant)
		if frac > 0 {
			v /= pow10(frac)
		}
		if neg {
			v = -v
		}
		return v, text, nil
	}
	v, err := strconv.ParseFloat(string(text), 64)
	if err != nil && !math.IsInf(v, 0) {
		return 0, nil, badf("invalid JSON: bad number %s", text)
	}
	return v, text, nil
}

// image reads one image at path (for errors) into dst, as pixel/255:
// either sh.size numbers or sh.rows arrays of sh.cols numbers, each a
// finite number in [0, 255].
func (s *scanner) image(dst []float32, sh shape, path string) error {
	if s.peek() != '[' {
		return badf("%s: want an array of %s, got %s", path, sh.want(), s.kind())
	}
	s.i++
	if s.peek() != '[' {
		n, err := s.values(dst, path, -1)
		if err != nil {
			return err
		}
		if n != sh.size {
			return badf("%s: want %s, got %d numbers", path, sh.want(), n)
		}
		return nil
	}
	if sh.rows == 0 {
		return badf("%s: want %s, got nested arrays", path, sh.want())
	}
	row := 0
	for ; ; row++ {
		if s.peek() != '[' {
			return badf("%s[%d]: want a row of %d numbers, got %s", path, row, sh.cols, s.kind())
		}
		s.i++
		var d []float32
		if row < sh.rows {
			d = dst[row*sh.cols : (row+1)*sh.cols]
		}
		n, err := s.values(d, path, row)
		if err != nil {
			return err
		}
		if n != sh.cols {
			return badf("%s: want %s, row %d has %d numbers", path, sh.want(), row, n)
		}
		if s.peek() == ']' {
			s.i++
			break
		}
		if err := s.expect(',', `"," or "]"`); err != nil {
			return err
		}
	}
	if row+1 != sh.rows {
		return badf("%s: want %s, got %d rows", path, sh.want(), row+1)
	}
	return nil
}

// at names element i of an image at path, in row (-1: a flat image).
func at(path string, row, i int) string {
	if row < 0 {
		return fmt.Sprintf("%s[%d]", path, i)
	}
	return fmt.Sprintf("%s[%d][%d]", path, row, i)
}

// values reads the numbers of an array whose "[" is consumed, up to and
// including "]", storing the first len(dst) as pixel/255 (in float32, as
// the training data is scaled). It returns how many there were.
func (s *scanner) values(dst []float32, path string, row int) (int, error) {
	if s.peek() == ']' {
		s.i++
		return 0, nil
	}
	n := 0
	for {
		// The fast path: a whole number of up to three digits followed by
		// "," or "]", as pixels usually are.
		if b, i := s.b, s.i; i+1 < len(b) {
			v := uint(b[i]) - '0'
			if v <= 9 {
				i++
				if d := uint(b[i]) - '0'; v != 0 && d <= 9 {
					v = v*10 + d
					i++
					if i < len(b) {
						if d := uint(b[i]) - '0'; d <= 9 {
							v = v*10 + d
							i++
						}
					}
				}
				if i < len(b) && v <= 255 && (b[i] == ',' || b[i] == ']') {
					if n < len(dst) {
						dst[n] = float32(v) / 255
					}
					n++
					s.i = i + 1
					if b[i] == ']' {
						return n, nil
					}
					continue
				}
			}
		}
		c := s.peek()
		if c != '-' && (c < '0' || c > '9') {
			if c == 0 {
				return n, s.syntax("a number")
			}
			return n, badf("%s: want a number, got %s", at(path, row, n), s.kind())
		}
		v, text, err := s.number()
		if err != nil {
			return n, err
		}
		if !(v >= 0 && v <= 255) {
			return n, badf("%s: %s is out of range [0, 255]", at(path, row, n), text)
		}
		if n < len(dst) {
			dst[n] = float32(v) / 255
		}
		n++
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return n, nil
		default:
			return n, s.syntax(`"," or "]"`)
		}
	}
}

// kind names the JSON value at the current position, for errors.
func (s *scanner) kind() string {
	switch c := s.peek(); {
	case c == 0:
		return "the end of the body"
	case c == '"':
		return "a string"
	case c == '[':
		return "an array"
	case c == '{':
		return "an object"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return s.token()
}

// end checks that only white space follows the document.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.syntax("the end of the body")
	}
	return nil
}

// openObject reads the "{" that starts the body.
func (s *scanner) openObject() error {
	if s.peek() != '{' {
		return badf("the body must be a JSON object, got %s", s.kind())
	}
	s.i++
	return nil
}

// nextKey moves to the next key of the body's object and reads it; at the
// closing "}" it checks that nothing follows and returns done. The caller
// must consume the key's value (s.skip for keys it ignores).
func (s *scanner) nextKey(first bool) (key []byte, done bool, err error) {
	switch s.peek() {
	case '}':
		s.i++
		return nil, true, s.end()
	case ',':
		if first {
			return nil, false, s.syntax("an object key")
		}
		s.i++
	default:
		if !first {
			return nil, false, s.syntax(`"," or "}"`)
		}
	}
	k, err := s.key()
	return k, false, err
}

// neuralRequest is the seed's POST /api/neural body.
type neuralRequest struct {
	method int
}

// parseNeural reads {"gridValues": image, "method": index} into x. method
// defaults to 0; other keys are ignored.
func parseNeural(body []byte, x []float32, sh shape, models int) (neuralRequest, error) {
	s := scanner{b: body}
	var req neuralRequest
	grid := false
	if err := s.openObject(); err != nil {
		return req, err
	}
	for first := true; ; first = false {
		k, done, err := s.nextKey(first)
		if err != nil {
			return req, err
		}
		if done {
			break
		}
		switch string(k) {
		case "gridValues":
			grid = true
			err = s.image(x, sh, "gridValues")
		case "method":
			req.method, err = s.method(models)
		default:
			err = s.skip(1)
		}
		if err != nil {
			return req, err
		}
	}
	if !grid {
		return req, badf("gridValues: missing; want %s", sh.want())
	}
	return req, nil
}

// method reads the index of a loaded model.
func (s *scanner) method(models int) (int, error) {
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, badf("method: want a model index (0 to %d), got %s", models-1, s.kind())
	}
	v, text, err := s.number()
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || v < 0 || v >= float64(models) {
		return 0, badf("method: %s is not a loaded model's index (0 to %d)", text, models-1)
	}
	return int(v), nil
}

// parseBatch reads {"inputs": [image, ...]} into x (grown as needed, up to
// maxBatch images) and returns the number of images.
func parseBatch(body []byte, x *[]float32, sh shape, maxBatch int) (int, error) {
	s := scanner{b: body}
	n, seen := 0, false
	if err := s.openObject(); err != nil {
		return 0, err
	}
	for first := true; ; first = false {
		k, done, err := s.nextKey(first)
		if err != nil {
			return 0, err
		}
		if done {
			break
		}
		if string(k) != "inputs" {
			if err := s.skip(1); err != nil {
				return 0, err
			}
			continue
		}
		seen = true
		if n, err = s.images(x, sh, maxBatch); err != nil {
			return 0, err
		}
	}
	if !seen {
		return 0, badf("inputs: missing; want an array of images of %s", sh.want())
	}
	if n == 0 {
		return 0, badf("inputs: empty; want 1 to %d images", maxBatch)
	}
	return n, nil
}

// images reads an array of at most maxBatch images into x, grown as
// needed, and returns how many there were.
func (s *scanner) images(x *[]float32, sh shape, maxBatch int) (int, error) {
	if s.peek() != '[' {
		return 0, badf("inputs: want an array of images, got %s", s.kind())
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return 0, nil
	}
	for n := 0; ; {
		if n == maxBatch {
			return 0, &inputError{status: 413, msg: fmt.Sprintf("inputs: more than %d images; send at most %d per request", maxBatch, maxBatch)}
		}
		if need := (n + 1) * sh.size; len(*x) < need {
			*x = append(*x, make([]float32, need-len(*x))...)
		}
		if err := s.image((*x)[n*sh.size:(n+1)*sh.size], sh, "inputs["+strconv.Itoa(n)+"]"); err != nil {
			return 0, err
		}
		n++
		if s.peek() == ']' {
			s.i++
			return n, nil
		}
		if err := s.expect(',', `"," or "]"`); err != nil {
			return 0, err
		}
	}
}
