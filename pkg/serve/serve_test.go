package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nnx-dev/nnx/pkg/bundle"
	"github.com/nnx-dev/nnx/pkg/bundle/bundletest"
	"github.com/nnx-dev/nnx/pkg/serve"
)

// tolerance is the largest difference allowed between a served
// probability and the engine's.
const tolerance = 1e-5

// start serves the trained networks (written as bundles and loaded back,
// as nnx serve does) and returns the server and its URL.
func start(t *testing.T, opt serve.Options, trained ...*bundletest.Trained) (*serve.Server, string) {
	t.Helper()
	var entries []serve.Entry
	for _, tr := range trained {
		dir := tr.Write(t)
		b, err := bundle.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, serve.Entry{Path: dir, Bundle: b})
	}
	s, err := serve.New(entries, opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// do sends a request and returns the status, the body and the headers.
func do(t *testing.T, method, url, ctype, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b), res.Header
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	code, b, _ := do(t, "POST", url, "application/json", body)
	return code, b
}

// nested renders pixels as the seed's client sends them: 28 rows of 28.
func nested(px []uint8) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for r := range 28 {
		if r > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('[')
		for c := range 28 {
			if c > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(int(px[r*28+c])))
		}
		sb.WriteByte(']')
	}
	sb.WriteByte(']')
	return sb.String()
}

// flat renders values as one array.
func flat[T uint8 | float64](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// TestServedEqualsOffline sends 100 real test images to both APIs for an
// MLP and the seed CNN: every answer equals the engine's offline
// prediction.
func TestServedEqualsOffline(t *testing.T) {
	mlp := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 200)
	cnn := bundletest.Train(t, "cnn", bundletest.CNNSpec(), 40)
	_, url := start(t, serve.Options{}, mlp, cnn)
	for method, tr := range []*bundletest.Trained{mlp, cnn} {
		for i, px := range tr.Pixels {
			body := fmt.Sprintf(`{"gridValues": %s, "method": %d}`, nested(px), method)
			if i%2 == 1 {
				body = fmt.Sprintf(`{"method":%d,"gridValues":%s}`, method, flat(px)) // flat, keys swapped
			}
			code, got := post(t, url+"/api/neural", body)
			if code != 200 {
				t.Fatalf("image %d: %d %s", i, code, got)
			}
			var ans []string
			if err := json.Unmarshal([]byte(got), &ans); err != nil || len(ans) != 2 {
				t.Fatalf("image %d: answer %s is not a JSON array of two strings", i, got)
			}
			want := tr.Probs[i*10 : (i+1)*10]
			top := argmax(want)
			conf, err := strconv.ParseFloat(ans[1], 64)
			if ans[0] != strconv.Itoa(top) || err != nil || math.Abs(conf-float64(want[top])) > tolerance {
				t.Errorf("%s image %d: served %v, offline [%d %.7f]", tr.Bundle.Manifest.Name, i, ans, top, want[top])
			}
		}
		// The same 100 images as one batch.
		var inputs []string
		for _, px := range tr.Pixels {
			inputs = append(inputs, nested(px))
		}
		code, got := post(t, url+"/v1/predict?model="+tr.Bundle.Manifest.Name, `{"inputs":[`+strings.Join(inputs, ",")+`]}`)
		if code != 200 {
			t.Fatalf("batch: %d %s", code, got)
		}
		var res struct {
			Model       string
			Predictions []struct {
				Label         string
				Index         int
				Confidence    float64
				Probabilities []float64
			}
		}
		if err := json.Unmarshal([]byte(got), &res); err != nil {
			t.Fatalf("batch answer: %v\n%s", err, got)
		}
		if res.Model != tr.Bundle.Manifest.Name || len(res.Predictions) != len(tr.Pixels) {
			t.Fatalf("batch: model %q, %d predictions", res.Model, len(res.Predictions))
		}
		worst := 0.0
		for i, p := range res.Predictions {
			want := tr.Probs[i*10 : (i+1)*10]
			if p.Index != argmax(want) || p.Label != strconv.Itoa(p.Index) || p.Confidence != p.Probabilities[p.Index] || len(p.Probabilities) != 10 {
				t.Errorf("batch image %d: %+v, offline top %d", i, p, argmax(want))
			}
			for c := range want {
				worst = max(worst, math.Abs(p.Probabilities[c]-float64(want[c])))
			}
		}
		if worst > tolerance {
			t.Errorf("%s: largest served-offline probability difference %.3g", tr.Bundle.Manifest.Name, worst)
		}
	}
}

func TestBadRequests(t *testing.T) {
	mlp := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 1)
	other := *mlp
	b := *mlp.Bundle
	b.Manifest.Name = "other"
	other.Bundle = &b
	_, url := start(t, serve.Options{MaxBatch: 3}, mlp, &other)

	zeros := func(n int) string { return flat(make([]uint8, n)) }
	rows := func(n, cols int) string {
		r := make([]string, n)
		for i := range r {
			r[i] = zeros(cols)
		}
		return "[" + strings.Join(r, ",") + "]"
	}
	grid := func(set string) string { // 784 zeros with one value replaced
		vs := strings.Split(strings.Trim(zeros(784), "[]"), ",")
		i, v, _ := strings.Cut(set, "=")
		n, _ := strconv.Atoi(i)
		vs[n] = v
		return "[" + strings.Join(vs, ",") + "]"
	}
	neural := func(g string) string { return `{"gridValues":` + g + `,"method":0}` }
	big := `{"gridValues":` + zeros(784) + `,"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, c := range []struct {
		name, method, path, ctype, body string
		code                            int
		msg                             string
	}{
		{"783 numbers", "POST", "/api/neural", "", neural(zeros(783)), 400, "gridValues: want 784 numbers or 28 rows of 28, got 783 numbers"},
		{"785 numbers", "POST", "/api/neural", "", neural(zeros(785)), 400, "gridValues: want 784 numbers or 28 rows of 28, got 785 numbers"},
		{"27 rows", "POST", "/api/neural", "", neural(rows(27, 28)), 400, "gridValues: want 784 numbers or 28 rows of 28, got 27 rows"},
		{"29 rows", "POST", "/api/neural", "", neural(rows(29, 28)), 400, "gridValues: want 784 numbers or 28 rows of 28, got 29 rows"},
		{"short row", "POST", "/api/neural", "", neural("[" + zeros(28) + "," + zeros(27) + "]"), 400, "gridValues: want 784 numbers or 28 rows of 28, row 1 has 27 numbers"},
		{"a number among rows", "POST", "/api/neural", "", neural("[" + zeros(28) + ",5]"), 400, "gridValues[1]: want a row of 28 numbers, got a number"},
		{"a string", "POST", "/api/neural", "", neural(grid(`5="7"`)), 400, "gridValues[5]: want a number, got a string"},
		{"null", "POST", "/api/neural", "", neural(grid(`6=null`)), 400, "gridValues[6]: want a number, got null"},
		{"a boolean", "POST", "/api/neural", "", neural(grid(`7=true`)), 400, "gridValues[7]: want a number, got a boolean"},
		{"an array in a flat grid", "POST", "/api/neural", "", neural(grid(`8=[1]`)), 400, "gridValues[8]: want a number, got an array"},
		{"NaN", "POST", "/api/neural", "", neural(grid(`9=NaN`)), 400, `gridValues[9]: want a number, got "NaN"`},
		{"over 255", "POST", "/api/neural", "", neural(grid("10=256")), 400, "gridValues[10]: 256 is out of range [0, 255]"},
		{"negative", "POST", "/api/neural", "", neural(grid("11=-0.5")), 400, "gridValues[11]: -0.5 is out of range [0, 255]"},
		{"infinite", "POST", "/api/neural", "", neural(grid("12=1e999")), 400, "gridValues[12]: 1e999 is out of range [0, 255]"},
		{"nested out of range", "POST", "/api/neural", "", neural("[" + strings.Repeat(zeros(28)+",", 3) + "[" + strings.Repeat("0,", 4) + "300" + strings.Repeat(",0", 23) + "]" + strings.Repeat(","+zeros(28), 24) + "]"), 400, "gridValues[3][4]: 300 is out of range [0, 255]"},
		{"not an array", "POST", "/api/neural", "", neural(`"pixels"`), 400, "gridValues: want an array of 784 numbers or 28 rows of 28, got a string"},
		{"no grid", "POST", "/api/neural", "", `{"method":0}`, 400, "gridValues: missing; want 784 numbers or 28 rows of 28"},
		{"method out of range", "POST", "/api/neural", "", `{"gridValues":` + zeros(784) + `,"method":2}`, 400, "method: 2 is not a loaded model's index (0 to 1)"},
		{"method fraction", "POST", "/api/neural", "", `{"gridValues":` + zeros(784) + `,"method":0.5}`, 400, "method: 0.5 is not a loaded model's index (0 to 1)"},
		{"method string", "POST", "/api/neural", "", `{"gridValues":` + zeros(784) + `,"method":"cnn"}`, 400, "method: want a model index (0 to 1), got a string"},
		{"truncated JSON", "POST", "/api/neural", "", `{"gridValues":[1,2`, 400, `invalid JSON: unexpected end of body, want "," or "]"`},
		{"not JSON", "POST", "/api/neural", "", `gridValues=1`, 400, `the body must be a JSON object, got "gridValues=1"`},
		{"an array body", "POST", "/api/neural", "", zeros(784), 400, "the body must be a JSON object, got an array"},
		{"trailing data", "POST", "/api/neural", "", neural(zeros(784)) + `x`, 400, fmt.Sprintf(`invalid JSON at byte %d: want the end of the body, got "x"`, len(neural(zeros(784))))},
		{"empty body", "POST", "/api/neural", "", ``, 400, "the body must be a JSON object, got the end of the body"},
		{"text/plain", "POST", "/api/neural", "text/plain", neural(zeros(784)), 415, "Content-Type text/plain: send application/json"},
		{"form", "POST", "/api/neural", "application/x-www-form-urlencoded", neural(zeros(784)), 415, "Content-Type application/x-www-form-urlencoded: send application/json"},
		{"no content type", "POST", "/api/neural", "-", neural(zeros(784)), 415, "Content-Type none: send application/json"},
		{"over the body limit", "POST", "/api/neural", "", big, 413, "body larger than the limit of 1048576 bytes"},
		{"GET", "GET", "/api/neural", "", ``, 405, "method GET not allowed; use POST"},
		{"unknown model", "POST", "/v1/predict?model=resnet", "", `{"inputs":[` + zeros(784) + `]}`, 404, `unknown model "resnet"; loaded: mlp, other (or their indexes 0 to 1)`},
		{"empty batch", "POST", "/v1/predict", "", `{"inputs":[]}`, 400, "inputs: empty; want 1 to 3 images"},
		{"no inputs", "POST", "/v1/predict", "", `{"images":[]}`, 400, "inputs: missing; want an array of images of 784 numbers or 28 rows of 28"},
		{"inputs not an array", "POST", "/v1/predict", "", `{"inputs":{}}`, 400, "inputs: want an array of images, got an object"},
		{"batch over the maximum", "POST", "/v1/predict", "", `{"inputs":[` + strings.Repeat(zeros(784)+",", 3) + zeros(784) + `]}`, 413, "inputs: more than 3 images; send at most 3 per request"},
		{"a bad image in a batch", "POST", "/v1/predict", "", `{"inputs":[` + zeros(784) + "," + zeros(700) + `]}`, 400, "inputs[1]: want 784 numbers or 28 rows of 28, got 700 numbers"},
		{"a bad value in a batch", "POST", "/v1/predict", "", `{"inputs":[` + zeros(784) + "," + grid("783=255.5") + `]}`, 400, "inputs[1][783]: 255.5 is out of range [0, 255]"},
		{"batch text/plain", "POST", "/v1/predict", "text/plain", `{"inputs":[` + zeros(784) + `]}`, 415, "Content-Type text/plain: send application/json"},
		{"no such path", "GET", "/api/neural/x", "", ``, 404, "no such endpoint /api/neural/x; see GET /v1/models, POST /api/neural, POST /v1/predict"},
		{"POST models", "POST", "/v1/models", "", `{}`, 405, "method POST not allowed; use GET, HEAD"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctype := c.ctype
			switch ctype {
			case "":
				ctype = "application/json"
			case "-":
				ctype = ""
			}
			code, body, h := do(t, c.method, url+c.path, ctype, c.body)
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("%d: the body is not a JSON error: %q", code, body)
			}
			if code != c.code || e.Error != c.msg {
				t.Errorf("got %d %q\nwant %d %q", code, e.Error, c.code, c.msg)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	// The server still answers after all that.
	if code, body := post(t, url+"/api/neural", neural(zeros(784))); code != 200 {
		t.Errorf("after bad requests: %d %s", code, body)
	}
}

func TestCORS(t *testing.T) {
	_, url := start(t, serve.Options{}, bundletest.Train(t, "mlp", bundletest.MLPSpec(), 1))
	req, _ := http.NewRequest("OPTIONS", url+"/api/neural", nil)
	req.Header.Set("Origin", "https://example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	if res.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Errorf("preflight: %d %v", res.StatusCode, h)
	}
	_, _, h = do(t, "POST", url+"/api/neural", "application/json", `{"gridValues":`+flat(make([]uint8, 784))+`}`)
	if h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("POST answer lacks Access-Control-Allow-Origin: *: %v", h)
	}
}

func TestEndpoints(t *testing.T) {
	mlp := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 200)
	s, url := start(t, serve.Options{}, mlp)
	get := func(path string) (int, string) {
		code, body, _ := do(t, "GET", url+path, "", "")
		return code, body
	}
	if code, body := get("/healthz"); code != 200 || body != `{"status":"ok"}`+"\n" {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Errorf("/readyz: %d %s", code, body)
	}
	s.SetReady(false)
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz while shutting down: %d, want 503", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz while shutting down: %d, want 200", code)
	}
	s.SetReady(true)

	code, body := get("/v1/models")
	var list serve.ModelList
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
		t.Fatalf("/v1/models: %d %v %s", code, err, body)
	}
	if len(list.Models) != 1 || list.MaxBatch != serve.DefaultMaxBatch {
		t.Fatalf("/v1/models: %+v", list)
	}
	m := list.Models[0]
	if m.Name != "mlp" || m.Index != 0 || m.Manifest.Format != 1 || len(m.Manifest.Labels) != 10 ||
		m.Manifest.Files[bundle.WeightsFile] == "" || m.Manifest.Input.Preprocessing != "pixel/255" ||
		len(m.Manifest.Architecture.Layers) != len(bundletest.MLPSpec().Layers) {
		t.Errorf("/v1/models entry: %+v", m)
	}

	code, page := get("/")
	if code != 200 || !strings.Contains(page, "<canvas") || !strings.Contains(page, "/v1/predict") {
		t.Errorf("/: %d, %d bytes", code, len(page))
	}

	// Predict a few images, then read the counters back.
	labels := map[int]int{}
	for i := range 7 {
		if code, body := post(t, url+"/api/neural", `{"gridValues":`+nested(mlp.Pixels[i])+`}`); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		labels[argmax(mlp.Probs[i*10:(i+1)*10])]++
	}
	post(t, url+"/api/neural", `{}`)
	code, metrics := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`nnx_http_requests_total{code="200",handler="api_neural"} 7`,
		`nnx_http_requests_total{code="400",handler="api_neural"} 1`,
		`nnx_http_requests_total{code="503",handler="readyz"} 1`,
		`nnx_http_request_duration_seconds_count{handler="api_neural"} 8`,
		`nnx_http_request_duration_seconds_bucket{handler="api_neural",le="0.001"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for label, n := range labels {
		want := fmt.Sprintf(`nnx_predictions_total{label="%d",model="mlp"} %d`, label, n)
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestConcurrentRequests sends images from many goroutines at once: each
// answer is its own image's.
func TestConcurrentRequests(t *testing.T) {
	mlp := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 200)
	_, url := start(t, serve.Options{}, mlp)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for k := range 25 {
				i := (g*25 + k) % len(mlp.Pixels)
				res, err := http.Post(url+"/api/neural", "application/json",
					bytes.NewBufferString(`{"gridValues":`+flat(mlp.Pixels[i])+`,"method":0}`))
				if err != nil {
					errs <- err
					return
				}
				var ans []string
				err = json.NewDecoder(res.Body).Decode(&ans)
				res.Body.Close()
				if want := strconv.Itoa(argmax(mlp.Probs[i*10 : (i+1)*10])); err != nil || len(ans) != 2 || ans[0] != want {
					errs <- fmt.Errorf("image %d: %v %v, want %s", i, ans, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNewRefuses(t *testing.T) {
	mlp := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 1)
	if _, err := serve.New(nil, serve.Options{}); err == nil {
		t.Error("no bundles: no error")
	}
	e := serve.Entry{Path: "a", Bundle: mlp.Bundle}
	if _, err := serve.New([]serve.Entry{e, {Path: "b", Bundle: mlp.Bundle}}, serve.Options{}); err == nil ||
		!strings.Contains(err.Error(), `both named "mlp"`) {
		t.Errorf("two bundles of one name: %v", err)
	}
	short := *mlp.Bundle
	short.Manifest.Labels = short.Manifest.Labels[:9]
	if _, err := serve.New([]serve.Entry{{Path: "a", Bundle: &short}}, serve.Options{}); err == nil ||
		!strings.Contains(err.Error(), "9 labels for 10 classes") {
		t.Errorf("9 labels: %v", err)
	}
}

// BenchmarkNeural measures the /api/neural handler without the network:
// parsing, prediction, metrics and the answer.
func BenchmarkNeural(b *testing.B) {
	tr := bundletest.Train(b, "mlp", bundletest.MLPSpec(), 1)
	s, err := serve.New([]serve.Entry{{Path: "mlp", Bundle: tr.Bundle}}, serve.Options{})
	if err != nil {
		b.Fatal(err)
	}
	body := `{"gridValues":` + nested(tr.Pixels[0]) + `,"method":0}`
	req := httptest.NewRequest("POST", "/api/neural", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		req.Body = io.NopCloser(strings.NewReader(body))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
