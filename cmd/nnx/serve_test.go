package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nnx-dev/nnx/pkg/bundle"
	"github.com/nnx-dev/nnx/pkg/bundle/bundletest"
)

// startServe runs the real binary's nnx serve on a free port and returns
// its base URL; stop sends SIGTERM and returns the exit code and stderr.
func startServe(t *testing.T, args ...string) (url string, stop func() (int, string)) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case line <- s.Text():
			default:
			}
		}
	}()
	select {
	case l := <-line:
		m := regexp.MustCompile(`^serving \d+ model\(s\) on (http://127\.0\.0\.1:\d+)/$`).FindStringSubmatch(l)
		if m == nil {
			cmd.Process.Kill()
			t.Fatalf("first line %q does not give the address", l)
		}
		url = m[1]
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("nnx serve printed no address:\n%s", stderr.String())
	}
	stopped := false
	stop = func() (int, string) {
		if stopped {
			return 0, stderr.String()
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, stderr.String()
	}
	t.Cleanup(func() { stop() })
	return url, stop
}

// TestServeEndToEnd serves an engine-trained bundle with the real binary:
// the seed's API answers 100 real test images as the engine does offline,
// the other endpoints answer, and SIGTERM stops it cleanly.
func TestServeEndToEnd(t *testing.T) {
	tr := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 200)
	dir := tr.Write(t)
	url, stop := startServe(t, dir)
	for i, px := range tr.Pixels {
		vs := make([]string, len(px))
		for j, p := range px {
			vs[j] = strconv.Itoa(int(p))
		}
		res, err := http.Post(url+"/api/neural", "application/json", strings.NewReader(`{"gridValues":[`+strings.Join(vs, ",")+`],"method":0}`))
		if err != nil {
			t.Fatal(err)
		}
		var ans []string
		err = json.NewDecoder(res.Body).Decode(&ans)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || len(ans) != 2 {
			t.Fatalf("image %d: %d %v %v", i, res.StatusCode, ans, err)
		}
		want := tr.Probs[i*10 : (i+1)*10]
		top := 0
		for c, p := range want {
			if p > want[top] {
				top = c
			}
		}
		conf, err := strconv.ParseFloat(ans[1], 64)
		if ans[0] != strconv.Itoa(top) || err != nil || math.Abs(conf-float64(want[top])) > 1e-5 {
			t.Errorf("image %d: served %v, offline [%d %.7f]", i, ans, top, want[top])
		}
	}
	for path, want := range map[string]string{"/healthz": `"ok"`, "/readyz": `"ready"`, "/v1/models": `"name": "mlp"`,
		"/metrics": `nnx_http_requests_total{code="200",handler="api_neural"} 100`, "/": "<canvas"} {
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, res.StatusCode, want)
		}
	}
	code, stderr := stop()
	if code != 0 || !strings.Contains(stderr, "nnx: shutting down") || !strings.Contains(stderr, "nnx: stopped") {
		t.Errorf("after SIGTERM: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "nnx: model 0: mlp (mlp, test accuracy") {
		t.Errorf("stderr does not describe the model:\n%s", stderr)
	}
}

// TestServeProcs: --procs sets how many cores run Go code, as the server's
// own Prometheus gauge reports it.
func TestServeProcs(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one core: --procs 1 would change nothing")
	}
	dir := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 200).Write(t)
	url, _ := startServe(t, dir, "--procs", "1")
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !regexp.MustCompile(`(?m)^go_sched_gomaxprocs_threads 1$`).Match(body) {
		t.Errorf("--procs 1: /metrics has no go_sched_gomaxprocs_threads 1")
	}
}

// TestServeDamagedBundle: a missing, truncated or altered file is an error
// that names it, and nothing is served.
func TestServeDamagedBundle(t *testing.T) {
	tr := bundletest.Train(t, "mlp", bundletest.MLPSpec(), 1)
	for _, c := range []struct {
		name, want string
		damage     func(dir string) error
	}{
		{"missing", "/weights.safetensors is missing", func(d string) error { return os.Remove(filepath.Join(d, bundle.WeightsFile)) }},
		{"truncated", "/weights.safetensors fails its checksum (truncated or altered; 64 bytes", func(d string) error {
			return os.Truncate(filepath.Join(d, bundle.WeightsFile), 64)
		}},
		{"altered", "/metrics.json fails its checksum", func(d string) error {
			return os.WriteFile(filepath.Join(d, "metrics.json"), []byte(`{"test_accuracy": 1}`), 0o644)
		}},
		{"not a bundle", "/manifest.json is missing (not a bundle", func(d string) error { return os.Remove(filepath.Join(d, bundle.ManifestFile)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := tr.Write(t)
			if err := c.damage(dir); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := nnx(t, t.TempDir(), "serve", dir, "--addr", "127.0.0.1:0")
			want := fmt.Sprintf("nnx: error: bundle %s: %s", dir, strings.TrimPrefix(c.want, "/"))
			if code != 1 || !strings.Contains(stderr, want) || stdout != "" {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s\nwant stderr to contain %q", code, stdout, stderr, want)
			}
		})
	}
}
