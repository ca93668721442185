package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nnx-dev/nnx/pkg/bundle"
	"github.com/nnx-dev/nnx/pkg/cli"
	"github.com/nnx-dev/nnx/pkg/results"
)

// binary is the nnx binary built once for these tests.
var binary string

func TestMain(m *testing.M) {
	// testscript re-runs this test binary as "nnx" for the scripts in
	// testdata/script; otherwise it builds the real binary and runs the tests.
	testscript.Main(buildFirst{m}, map[string]func(){
		"nnx": func() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)) },
	})
}

// buildFirst builds the nnx binary before the tests run.
type buildFirst struct{ m *testing.M }

func (b buildFirst) Run() int {
	dir, err := os.MkdirTemp("", "nnx-e2e")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "nnx")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		return 1
	}
	return b.m.Run()
}

// TestScripts runs the command-line scripts in testdata/script: exact
// messages and exit codes for the ways a user can get things wrong.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(e *testscript.Env) error {
			// The real MNIST data, for scripts that train.
			for _, k := range []string{"GOMODCACHE", "GOPATH", "HOME"} {
				e.Setenv("REAL_"+k, os.Getenv(k))
			}
			return nil
		},
	})
}

// nnx runs the binary in dir and returns stdout, stderr and the exit code.
func nnx(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func testdata(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readMetrics(t *testing.T, path string) *results.Metrics {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m results.Metrics
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &m
}

// TestRunEndToEnd trains two trials x two folds on 2,000 real MNIST images
// with the real binary and checks every file it promises.
func TestRunEndToEnd(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := nnx(t, dir, "run", testdata(t, "small.yaml"))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Hidden Layer dimensions", "Validation Accuracy", "128", "256", "best: trial"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "trial 2/2 fold 2/2 epoch 2/2") {
		t.Errorf("no plain progress line for the last epoch in stderr:\n%s", stderr)
	}
	ms, err := results.Store{Dir: filepath.Join(dir, "results")}.LoadExperiment("small")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("%d trials stored, want 2", len(ms))
	}
	for _, m := range ms {
		tdir := filepath.Join(dir, "results", "small", m.Trial)
		if _, err := os.Stat(filepath.Join(tdir, "trial.yaml")); err != nil {
			t.Error(err)
		}
		if m.Status != "done" || len(m.Folds) != 2 || m.ValAccuracy.N != 2 {
			t.Errorf("trial %s: status %s, %d folds", m.Trial, m.Status, len(m.Folds))
		}
		for _, f := range m.Folds {
			if len(f.Epochs) != 2 || f.TrainSize != 1000 || f.ValSize != 1000 {
				t.Errorf("trial %s fold %d: %d epochs, %d/%d examples", m.Trial, f.Fold, len(f.Epochs), f.TrainSize, f.ValSize)
			}
			if f.ValAccuracy <= 0.85 {
				t.Errorf("trial %s (%s) fold %d: validation accuracy %.4f, want > 0.85", m.Trial, m.Label, f.Fold, f.ValAccuracy)
			}
		}
		if m.TestAccuracy <= 0.8 {
			t.Errorf("trial %s: test accuracy %.4f on 1,000 real test images, want > 0.8", m.Trial, m.TestAccuracy)
		}
	}
	best := readMetrics(t, filepath.Join(dir, "results", "small", "best", "metrics.json"))
	if !results.Better(best, ms[0]) && !results.Better(best, ms[1]) && best.Trial != ms[0].Trial && best.Trial != ms[1].Trial {
		t.Errorf("best/ holds trial %s, not one of the run's", best.Trial)
	}
	w, err := bundle.ReadWeights(filepath.Join(dir, "results", "small", "best", bundle.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 4 { // two dense layers: weight and bias each
		t.Errorf("%d weight tensors in best/, want 4", len(w))
	}
	// best/ is a checksummed bundle, and results/best the overall best's copy.
	for _, d := range []string{filepath.Join(dir, "results", "small", "best"), filepath.Join(dir, "results", "best")} {
		b, err := bundle.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		if b.Manifest.Trial != best.Trial || b.Manifest.Experiment != "small" || b.Manifest.Metrics.TestAccuracy != best.TestAccuracy {
			t.Errorf("%s: manifest names trial %s of %s (test %v), want %s (test %v)", d, b.Manifest.Trial,
				b.Manifest.Experiment, b.Manifest.Metrics.TestAccuracy, best.Trial, best.TestAccuracy)
		}
	}
}

// TestRunDeterministic runs the same experiment twice: every stored metric
// but the timings is identical.
func TestRunDeterministic(t *testing.T) {
	var runs []*results.Metrics
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		if _, stderr, code := nnx(t, dir, "run", testdata(t, "small.yaml"), "--set", "model.hidden=[32]", "--set", "train.epochs=1"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		ms, err := results.Store{Dir: filepath.Join(dir, "results")}.LoadExperiment("small")
		if err != nil || len(ms) != 1 {
			t.Fatalf("%v, %d trials", err, len(ms))
		}
		m := ms[0]
		m.Seconds = 0
		for i := range m.Folds {
			m.Folds[i].Seconds = 0
			for j := range m.Folds[i].Epochs {
				m.Folds[i].Epochs[j].Seconds = 0
			}
		}
		runs = append(runs, m)
	}
	a, _ := json.Marshal(runs[0])
	b, _ := json.Marshal(runs[1])
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs differ:\n%s\n%s", a, b)
	}
}

// TestInterruptKeepsFinishedTrials sends SIGINT after the first trial is
// stored: nnx exits 130, and what it wrote is complete.
func TestInterruptKeepsFinishedTrials(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "run", testdata(t, "small.yaml"), "--set", "train.epochs=30")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, "results", "small", "*", "metrics.json"))
		if len(matches) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no trial finished in time:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want 130\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "nnx: interrupted; finished trials are kept") {
		t.Errorf("stderr lacks the interrupt message:\n%s", stderr.String())
	}
	ms, err := results.Store{Dir: filepath.Join(dir, "results")}.LoadExperiment("small")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Status != "done" {
		t.Fatalf("want exactly the finished first trial stored, got %d", len(ms))
	}
	if best := readMetrics(t, filepath.Join(dir, "results", "small", "best", "metrics.json")); best.Trial != ms[0].Trial {
		t.Errorf("best/ holds %s, want the finished trial %s", best.Trial, ms[0].Trial)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "results", "small", "*", ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// TestCNNEndToEnd trains the committed CNN experiment's first row on a
// 4,000-image subset of real MNIST for three epochs: far above chance, and
// the best bundle carries the batch-norm running statistics.
func TestCNNEndToEnd(t *testing.T) {
	dir := t.TempDir()
	exp, err := filepath.Abs(filepath.Join("..", "..", "experiments", "cnn.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := nnx(t, dir, "run", exp, "--only", "1", "--jobs", "2",
		"--set", "data.limit=4000", "--set", "data.test_limit=1000", "--set", "split.folds=2", "--set", "train.epochs=3")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "Hidden Layer dimensions") {
		t.Errorf("a CNN table shows the MLP's hidden-layer column:\n%s", stdout)
	}
	ms, err := results.Store{Dir: filepath.Join(dir, "results")}.LoadExperiment("cnn")
	if err != nil || len(ms) != 1 {
		t.Fatalf("%v, %d trials", err, len(ms))
	}
	m := ms[0]
	if m.Config.Model.Hidden != nil || len(m.Config.Model.Layers) != 8 {
		t.Errorf("resolved model: hidden %v, %d layers", m.Config.Model.Hidden, len(m.Config.Model.Layers))
	}
	for _, f := range m.Folds {
		if f.ValAccuracy < 0.85 {
			t.Errorf("fold %d: validation accuracy %.4f, want > 0.85", f.Fold, f.ValAccuracy)
		}
	}
	if m.TestAccuracy < 0.85 {
		t.Errorf("test accuracy %.4f, want > 0.85", m.TestAccuracy)
	}
	w, err := bundle.ReadWeights(filepath.Join(dir, "results", "cnn", "best", bundle.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][]float32{}
	for _, t := range w {
		names[t.Name] = t.Data
	}
	for _, n := range []string{"conv2d0.weight", "conv2d0.bias", "batchnorm0.scale", "batchnorm0.shift",
		"batchnorm0.running_mean", "batchnorm0.running_var", "dense0.weight", "dense2.bias"} {
		if names[n] == nil {
			t.Errorf("best weights lack %s", n)
		}
	}
	if v := names["batchnorm0.running_var"]; v != nil && v[0] == 1 {
		t.Errorf("running variance is still its initial 1: statistics were not saved")
	}
}

// waitFor polls until cond holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stripTimes zeroes the timings of metrics.json, which differ run to run.
func stripTimes(m *results.Metrics) *results.Metrics {
	m.Seconds = 0
	for i := range m.Folds {
		m.Folds[i].Seconds = 0
		for j := range m.Folds[i].Epochs {
			m.Folds[i].Epochs[j].Seconds = 0
		}
	}
	return m
}

// TestCrashAndResume kills nnx with SIGKILL in the middle of the second
// trial, runs the same command again, and checks that the finished trial
// is kept as it was, the second resumes from its last finished epoch, and
// the numbers equal an uninterrupted run's.
func TestCrashAndResume(t *testing.T) {
	args := []string{"run", testdata(t, "small.yaml"), "--set", "train.epochs=6", "--set", "data.limit=1000"}
	clean := t.TempDir()
	if _, stderr, code := nnx(t, clean, args...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
	}
	want, err := results.Store{Dir: filepath.Join(clean, "results")}.LoadExperiment("small")
	if err != nil || len(want) != 2 {
		t.Fatalf("%v, %d trials", err, len(want))
	}

	dir := t.TempDir()
	exp := filepath.Join(dir, "results", "small")
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(exp, want[0].Trial, "metrics.json")
	second := filepath.Join(exp, want[1].Trial)
	waitFor(t, "the first trial and a checkpoint of the second", func() bool {
		return exists(first) && exists(filepath.Join(second, ".checkpoint", "fold-0.gob"))
	})
	cmd.Process.Kill() // SIGKILL: no cleanup runs
	cmd.Wait()
	if exists(filepath.Join(second, "metrics.json")) {
		t.Fatal("the interrupted trial has a metrics.json")
	}
	before, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code := nnx(t, dir, args...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, want[0].Trial+" ("+want[0].Label+"): done earlier, kept") {
		t.Errorf("the finished trial was not kept:\n%s", stderr)
	}
	if !strings.Contains(stderr, "from checkpoint") {
		t.Errorf("the second trial did not resume from a checkpoint:\n%s", stderr)
	}
	if strings.Contains(stderr, "trial 1/2 fold") {
		t.Errorf("the finished trial was trained again:\n%s", stderr)
	}
	after, _ := os.ReadFile(first)
	if !bytes.Equal(before, after) {
		t.Error("the finished trial's metrics.json changed")
	}
	got, err := results.Store{Dir: filepath.Join(dir, "results")}.LoadExperiment("small")
	if err != nil || len(got) != 2 {
		t.Fatalf("%v, %d trials", err, len(got))
	}
	for i := range got {
		a, _ := json.Marshal(stripTimes(got[i]))
		b, _ := json.Marshal(stripTimes(want[i]))
		if !bytes.Equal(a, b) {
			t.Errorf("trial %s after resume differs from an uninterrupted run:\n%s\n%s", got[i].Trial, a, b)
		}
	}
	if exists(filepath.Join(second, ".checkpoint")) {
		t.Error("checkpoints left behind after the trial finished")
	}
}

// TestTwoRunsShareResults starts two nnx runs on one results directory at
// once: each trial is trained by one of them, the other says so, and a
// third run finds everything done.
func TestTwoRunsShareResults(t *testing.T) {
	dir := t.TempDir()
	args := []string{"run", testdata(t, "small.yaml"), "--set", "train.epochs=3", "--set", "data.limit=1000"}
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = exec.Command(binary, args...)
		cmds[i].Dir = dir
		cmds[i].Stderr = &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range cmds {
		cmds[i].Wait()
	}
	both := outs[0].String() + outs[1].String()
	if !strings.Contains(both, "is being trained by another nnx run (pid ") && !strings.Contains(both, "done earlier, kept") {
		t.Errorf("neither run noticed the other:\n%s", both)
	}
	_, stderr, code := nnx(t, dir, args...)
	if code != 0 || strings.Count(stderr, "done earlier, kept") != 2 {
		t.Fatalf("third run: exit %d\n%s\nfirst two:\n%s", code, stderr, both)
	}
	ms, err := results.Store{Dir: filepath.Join(dir, "results")}.LoadExperiment("small")
	if err != nil || len(ms) != 2 || ms[0].Status != "done" || ms[1].Status != "done" {
		t.Fatalf("%v: %d trials", err, len(ms))
	}
}
