// Package serve answers predictions over HTTP from loaded bundles: the
// seed project's POST /api/neural, a batch API (POST /v1/predict), the
// loaded models (GET /v1/models), health and readiness probes, Prometheus
// metrics and an embedded page to draw digits on. Bad input is a 4xx with
// a JSON error that names the problem; the server is safe for concurrent
// use.
package serve

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nnx-dev/nnx/pkg/bundle"
	"github.com/nnx-dev/nnx/pkg/model"
	"github.com/nnx-dev/nnx/pkg/predict"
)

// Limits a server applies unless Options say otherwise.
const (
	DefaultMaxBody      = 1 << 20 // bytes of a /api/neural body
	DefaultMaxBatchBody = 8 << 20 // bytes of a /v1/predict body
	DefaultMaxBatch     = 256     // images per /v1/predict request
)

//go:embed web/index.html
var web embed.FS

// Options tune a server. Zero values take the defaults.
type Options struct {
	MaxBody      int64 // largest /api/neural body, in bytes
	MaxBatchBody int64 // largest /v1/predict body, in bytes
	MaxBatch     int   // most images per /v1/predict request
}

// Entry is a bundle to serve and the directory it came from.
type Entry struct {
	Path   string
	Bundle *bundle.Bundle
}

// loaded is a model being served.
type loaded struct {
	index    int
	name     string
	path     string
	manifest bundle.Manifest
	model    *predict.Model
	labels   [][]byte             // JSON-quoted labels
	predicts []prometheus.Counter // predictions by label
}

// Server is the HTTP handler. Create it with New.
type Server struct {
	opt    Options
	models []*loaded
	byName map[string]*loaded
	shape  shape
	ready  atomic.Bool
	page   []byte
	bufs   sync.Pool // *buffers

	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	routes   map[string]*route
	notFound *route
	metrics  http.Handler
	json     []string // header values, shared read-only
	cors     []string
}

// route is one endpoint with its metrics resolved once.
type route struct {
	name    string
	serve   func(s *Server, w http.ResponseWriter, r *http.Request) int
	latency prometheus.Observer
	codes   sync.Map // int -> prometheus.Counter
}

// buffers is one request's working memory.
type buffers struct {
	body  []byte
	x     []float32
	probs []float32
	out   []byte
}

// New builds a server for entries (served in order: index 0 is the first).
// Every model must take the same input shape. The server starts ready.
func New(entries []Entry, opt Options) (*Server, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("no bundles to serve")
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.MaxBatchBody <= 0 {
		opt.MaxBatchBody = DefaultMaxBatchBody
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = DefaultMaxBatch
	}
	s := &Server{opt: opt, byName: map[string]*loaded{}, reg: prometheus.NewRegistry(),
		json: []string{"application/json"}, cors: []string{"*"}}
	predictions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nnx_predictions_total", Help: "Predictions made, by model and predicted label.",
	}, []string{"model", "label"})
	var first model.Shape
	classes := 0
	for i, e := range entries {
		spec, err := e.Bundle.Spec()
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", e.Path, err)
		}
		m, err := predict.New(spec, e.Bundle.Weights)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", e.Path, err)
		}
		in := model.Shape(e.Bundle.Manifest.Input.Shape)
		if i == 0 {
			first = in
		} else if !slices.Equal(in, first) {
			return nil, fmt.Errorf("bundle %s takes %s inputs but %s takes %s: one server serves one input shape",
				e.Path, in, entries[0].Path, first)
		}
		name := e.Bundle.Manifest.Name
		if name == "" {
			name = filepath.Base(filepath.Clean(e.Path))
		}
		if prev, dup := s.byName[name]; dup {
			return nil, fmt.Errorf("bundles %s and %s are both named %q: serve each model once", prev.path, e.Path, name)
		}
		if len(e.Bundle.Manifest.Labels) != m.Classes() {
			return nil, fmt.Errorf("bundle %s: %d labels for %d classes", e.Path, len(e.Bundle.Manifest.Labels), m.Classes())
		}
		classes = max(classes, m.Classes())
		l := &loaded{index: i, name: name, path: e.Path, manifest: e.Bundle.Manifest, model: m}
		for _, lb := range e.Bundle.Manifest.Labels {
			l.labels = append(l.labels, strconv.AppendQuote(nil, lb))
			l.predicts = append(l.predicts, predictions.WithLabelValues(name, lb))
		}
		s.models = append(s.models, l)
		s.byName[name] = l
	}
	s.shape = shape{size: first.Size()}
	if len(first) >= 2 && first.Size() == first[len(first)-1]*first[len(first)-2] {
		s.shape.rows, s.shape.cols = first[len(first)-2], first[len(first)-1]
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nnx_http_requests_total", Help: "HTTP requests answered, by handler and status code.",
	}, []string{"handler", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "nnx_http_request_duration_seconds", Help: "Time to answer an HTTP request, by handler.",
		Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"handler"})
	s.reg.MustRegister(s.requests, s.latency, predictions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	page, err := web.ReadFile("web/index.html")
	if err != nil {
		return nil, err
	}
	s.page = page
	s.routes = map[string]*route{}
	for path, rt := range map[string]*route{
		"/api/neural": {name: "api_neural", serve: (*Server).neural},
		"/v1/predict": {name: "predict", serve: (*Server).predict},
		"/v1/models":  {name: "models", serve: (*Server).listModels},
		"/healthz":    {name: "healthz", serve: (*Server).healthz},
		"/readyz":     {name: "readyz", serve: (*Server).readyz},
		"/metrics":    {name: "metrics", serve: (*Server).serveMetrics},
		"/":           {name: "page", serve: (*Server).servePage},
	} {
		rt.latency = s.latency.WithLabelValues(rt.name)
		s.routes[path] = rt
	}
	s.notFound = &route{name: "not_found", serve: (*Server).unknownPath}
	s.notFound.latency = s.latency.WithLabelValues(s.notFound.name)
	s.bufs.New = func() any { return &buffers{x: make([]float32, s.shape.size), probs: make([]float32, classes)} }
	s.ready.Store(true)
	return s, nil
}

// SetReady sets what /readyz answers: false while shutting down.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Models names the loaded models, in index order.
func (s *Server) Models() []string {
	var out []string
	for _, m := range s.models {
		out = append(out, m.name)
	}
	return out
}

// ServeHTTP routes a request and records its count and latency.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt, ok := s.routes[r.URL.Path]
	if !ok {
		rt = s.notFound
	}
	code := rt.serve(s, w, r)
	rt.latency.Observe(time.Since(start).Seconds())
	c, ok := rt.codes.Load(code)
	if !ok {
		c, _ = rt.codes.LoadOrStore(code, s.requests.WithLabelValues(rt.name, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}

// writeJSON answers with a JSON body.
func (s *Server) writeJSON(w http.ResponseWriter, code int, body []byte) int {
	h := w.Header()
	h["Content-Type"] = s.json
	if len(body) > 2048 { // smaller bodies get their length from net/http
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(code)
	w.Write(body)
	return code
}

// fail answers with {"error": msg}.
func (s *Server) fail(w http.ResponseWriter, code int, msg string) int {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return s.writeJSON(w, code, append(b, '\n'))
}

// failErr answers an error from reading a request.
func (s *Server) failErr(w http.ResponseWriter, err error) int {
	if ie, ok := err.(*inputError); ok {
		return s.fail(w, ie.status, ie.msg)
	}
	return s.fail(w, http.StatusBadRequest, err.Error())
}

// allow answers OPTIONS preflights and refuses other methods than those
// given; it reports whether the handler should go on.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, methods string, code *int) bool {
	h := w.Header()
	h["Access-Control-Allow-Origin"] = s.cors
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", methods+", OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		} else {
			h.Set("Access-Control-Allow-Headers", "Content-Type")
		}
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		*code = http.StatusNoContent
		return false
	}
	for rest := methods; rest != ""; {
		var m string
		m, rest, _ = strings.Cut(rest, ", ")
		if r.Method == m {
			return true
		}
	}
	h.Set("Allow", methods+", OPTIONS")
	*code = s.fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", r.Method, methods))
	return false
}

// readBody checks the content type and reads at most limit bytes of the
// body into b.
func (s *Server) readBody(r *http.Request, b *buffers, limit int64) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		if ct == "" {
			ct = "none"
		}
		return &inputError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("Content-Type %s: send application/json", ct)}
	}
	tooLarge := &inputError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body larger than the limit of %d bytes", limit)}
	if r.ContentLength > limit {
		return tooLarge
	}
	buf := b.body[:0]
	if r.ContentLength >= 0 && cap(buf) <= int(r.ContentLength) {
		buf = make([]byte, 0, r.ContentLength+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, max(4096, len(buf)))...)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			b.body = buf[:0]
			return tooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			b.body = buf[:0]
			return badf("reading the body: %v", err)
		}
	}
	b.body = buf
	return nil
}

func (s *Server) getBuffers() *buffers { return s.bufs.Get().(*buffers) }

// putBuffers returns b to the pool unless a huge request grew it.
func (s *Server) putBuffers(b *buffers) {
	if cap(b.body) <= int(s.opt.MaxBody) && cap(b.x) <= 16*s.shape.size {
		s.bufs.Put(b)
	}
}

// neural is the seed's POST /api/neural: {"gridValues": [...], "method":
// i} -> ["<label>", "<confidence>"].
func (s *Server) neural(w http.ResponseWriter, r *http.Request) (code int) {
	if !s.allow(w, r, "POST", &code) {
		return code
	}
	b := s.getBuffers()
	defer s.putBuffers(b)
	if err := s.readBody(r, b, s.opt.MaxBody); err != nil {
		return s.failErr(w, err)
	}
	req, err := parseNeural(b.body, b.x[:s.shape.size], s.shape, len(s.models))
	if err != nil {
		return s.failErr(w, err)
	}
	m := s.models[req.method]
	probs := b.probs[:m.model.Classes()]
	if err := m.model.Predict(b.x[:s.shape.size], probs); err != nil {
		return s.fail(w, http.StatusInternalServerError, err.Error())
	}
	top, p := predict.Top(probs)
	m.predicts[top].Inc()
	out := append(b.out[:0], '[')
	out = strconv.AppendQuote(out, m.manifest.Labels[top])
	out = append(out, ',', '"')
	out = strconv.AppendFloat(out, float64(p), 'f', -1, 32)
	out = append(out, '"', ']')
	b.out = out
	return s.writeJSON(w, http.StatusOK, out)
}

// pick finds the model ?model= names (a name or an index; default the
// first).
func (s *Server) pick(r *http.Request) (*loaded, error) {
	q := r.URL.Query().Get("model")
	if q == "" {
		return s.models[0], nil
	}
	if m, ok := s.byName[q]; ok {
		return m, nil
	}
	if i, err := strconv.Atoi(q); err == nil && i >= 0 && i < len(s.models) {
		return s.models[i], nil
	}
	return nil, &inputError{status: http.StatusNotFound,
		msg: fmt.Sprintf("unknown model %q; loaded: %s (or their indexes 0 to %d)", q, strings.Join(s.Models(), ", "), len(s.models)-1)}
}

// predict is POST /v1/predict: {"inputs": [image, ...]} -> the label,
// confidence and probabilities of each.
func (s *Server) predict(w http.ResponseWriter, r *http.Request) (code int) {
	if !s.allow(w, r, "POST", &code) {
		return code
	}
	m, err := s.pick(r)
	if err != nil {
		return s.failErr(w, err)
	}
	b := s.getBuffers()
	defer s.putBuffers(b)
	if err := s.readBody(r, b, s.opt.MaxBatchBody); err != nil {
		return s.failErr(w, err)
	}
	n, err := parseBatch(b.body, &b.x, s.shape, s.opt.MaxBatch)
	if err != nil {
		return s.failErr(w, err)
	}
	classes := m.model.Classes()
	if len(b.probs) < n*classes {
		b.probs = make([]float32, n*classes)
	}
	probs := b.probs[:n*classes]
	if err := m.model.Predict(b.x[:n*s.shape.size], probs); err != nil {
		return s.fail(w, http.StatusInternalServerError, err.Error())
	}
	out := append(b.out[:0], `{"model":`...)
	out = strconv.AppendQuote(out, m.name)
	out = append(out, `,"predictions":[`...)
	for i := range n {
		p := probs[i*classes : (i+1)*classes]
		top, conf := predict.Top(p)
		m.predicts[top].Inc()
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"label":`...)
		out = append(out, m.labels[top]...)
		out = append(out, `,"index":`...)
		out = strconv.AppendInt(out, int64(top), 10)
		out = append(out, `,"confidence":`...)
		out = strconv.AppendFloat(out, float64(conf), 'g', -1, 32)
		out = append(out, `,"probabilities":[`...)
		for c, v := range p {
			if c > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendFloat(out, float64(v), 'g', -1, 32)
		}
		out = append(out, ']', '}')
	}
	out = append(out, ']', '}', '\n')
	b.out = out
	return s.writeJSON(w, http.StatusOK, out)
}

// ModelInfo is one entry of GET /v1/models.
type ModelInfo struct {
	Index    int             `json:"index"`
	Name     string          `json:"name"`
	Path     string          `json:"path"`
	Manifest bundle.Manifest `json:"manifest"`
}

// ModelList is GET /v1/models' answer.
type ModelList struct {
	Models   []ModelInfo `json:"models"`
	MaxBatch int         `json:"max_batch"`
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) (code int) {
	if !s.allow(w, r, "GET, HEAD", &code) {
		return code
	}
	list := ModelList{MaxBatch: s.opt.MaxBatch}
	for _, m := range s.models {
		list.Models = append(list.Models, ModelInfo{Index: m.index, Name: m.name, Path: m.path, Manifest: m.manifest})
	}
	body, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return s.fail(w, http.StatusInternalServerError, err.Error())
	}
	return s.writeJSON(w, http.StatusOK, append(body, '\n'))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) (code int) {
	if !s.allow(w, r, "GET, HEAD", &code) {
		return code
	}
	return s.writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) (code int) {
	if !s.allow(w, r, "GET, HEAD", &code) {
		return code
	}
	if !s.ready.Load() {
		return s.writeJSON(w, http.StatusServiceUnavailable, []byte(`{"status":"shutting down"}`+"\n"))
	}
	return s.writeJSON(w, http.StatusOK, []byte(`{"status":"ready"}`+"\n"))
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) (code int) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return s.fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use GET", r.Method))
	}
	s.metrics.ServeHTTP(w, r)
	return http.StatusOK
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) (code int) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return s.fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use GET", r.Method))
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(s.page)))
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(s.page)
	}
	return http.StatusOK
}

func (s *Server) unknownPath(w http.ResponseWriter, r *http.Request) int {
	return s.fail(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; see GET /v1/models, POST /api/neural, POST /v1/predict", r.URL.Path))
}
