package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nnx-dev/nnx/pkg/results"
)

// TestClusterSimulation runs an experiment the way a cluster does, with
// local processes standing in for pods or array tasks, and checks that
// nnx report then writes exactly what one machine's run gives:
//
//   - single: one `nnx run`;
//   - shared: three `nnx run --shard I/3` started at once on one results
//     directory (a shared volume);
//   - apart: three `nnx run --shard I/3` started at once (with the shared
//     three), each into its own directory, merged by `nnx report A B C`;
//   - cached: one `nnx run --cache-from A --cache-from B --cache-from C`,
//     which copies the trials instead of training them.
//
// Wall-clock timings are the one thing that legitimately differs between
// runs, and they reach the markdown twice (the running-time column and
// each trial's line on the experiment page). Rather than mask the text
// (which could hide other differences) the test zeroes every timing in
// the stored metrics.json files, the only place they come from, and then
// requires every byte nnx report writes (both README.md files and every
// plot) and best/ to be identical. Before that, duplicates are merged with
// their real, different timings: agreeing copies merge, and a copy whose
// numbers were changed is a reproducibility failure.
func TestClusterSimulation(t *testing.T) {
	root := t.TempDir()
	exp := testdata(t, filepath.Join("cluster", "sweep.yaml"))
	const name = "cluster" // the experiment's name
	single := filepath.Join(root, "single")
	shared := filepath.Join(root, "shared")
	apart := []string{filepath.Join(root, "apart0"), filepath.Join(root, "apart1"), filepath.Join(root, "apart2")}

	if _, stderr, code := nnx(t, root, "run", exp, "--results", single); code != 0 {
		t.Fatalf("single run: exit %d\n%s", code, stderr)
	}

	// Six processes at once: three shards on one directory, three apart.
	type proc struct {
		cmd    *exec.Cmd
		stderr bytes.Buffer
	}
	var procs []*proc
	for i := range 3 {
		shard := []string{"0/3", "1/3", "2/3"}[i]
		for _, dir := range []string{shared, apart[i]} {
			p := &proc{cmd: exec.Command(binary, "run", exp, "--shard", shard, "--results", dir)}
			p.cmd.Dir = root
			p.cmd.Stderr = &p.stderr
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			procs = append(procs, p)
		}
	}
	for i, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("shard %d/3 (%s): %v\n%s", i/2, p.cmd.Args[len(p.cmd.Args)-1], err, p.stderr.String())
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for i, want := range []string{"shard 0/3: 2 of 4 trial(s)", "shard 1/3: 1 of 4 trial(s)", "shard 2/3: 1 of 4 trial(s)"} {
		if s := procs[2*i].stderr.String(); !strings.Contains(s, want) || strings.Contains(s, "being trained by another") {
			t.Errorf("shard %d on the shared directory: want %q and no lock conflict in\n%s", i, want, s)
		}
	}

	// Duplicates with equal numbers (timings differ): merged, no error.
	stdout, stderr, code := nnx(t, root, "report", "--format", "json", single, shared)
	if code != 0 || strings.Count(stdout, `"done"`) != 4 {
		t.Fatalf("report of two copies: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// A copy whose numbers differ: a reproducibility failure, nothing written.
	bad := filepath.Join(root, "bad")
	if err := os.CopyFS(bad, os.DirFS(apart[1])); err != nil {
		t.Fatal(err)
	}
	ms, err := results.Store{Dir: bad}.LoadExperiment(name)
	if err != nil || len(ms) != 1 {
		t.Fatalf("shard 1 stored %d trials: %v", len(ms), err)
	}
	changed := ms[0]
	editJSON(t, filepath.Join(bad, name, changed.Trial, results.MetricsFile), func(m *results.Metrics) { m.TestAccuracy += 0.001 })
	_, stderr, code = nnx(t, root, "report", single, bad)
	if code != 1 {
		t.Errorf("report with a changed copy: exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{
		"nnx: error: trial " + changed.Trial + " (" + changed.Label + ") of experiment cluster differs between " + single + " and " + bad + ": 1 number(s)\n",
		"nnx:   test accuracy: " + single + " ",
		"nnx: error: reproducibility failure: 1 trial(s) have copies with different metrics\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if exists(filepath.Join(single, "README.md")) {
		t.Error("a failed merge wrote the report")
	}

	// Timings aside, the three must give the same bytes.
	for _, dir := range append([]string{single, shared}, apart...) {
		zeroTimings(t, dir)
	}
	// nnx run --cache-from takes the shards' trials instead of training them.
	cached := filepath.Join(root, "cached")
	args := []string{"run", exp, "--results", cached}
	for _, d := range apart {
		args = append(args, "--cache-from", d)
	}
	if _, stderr, code := nnx(t, root, args...); code != 0 || strings.Count(stderr, ", copied") != 4 || strings.Contains(stderr, "epoch 1/1") {
		t.Fatalf("run --cache-from: exit %d, want 4 trials copied and none trained\n%s", code, stderr)
	}
	for _, args := range [][]string{{single}, {shared}, {cached}, apart} {
		if _, stderr, code := nnx(t, root, append([]string{"report"}, args...)...); code != 0 {
			t.Fatalf("nnx report %v: exit %d\n%s", args, code, stderr)
		}
	}
	want := tree(t, single, "README.md", name+"/README.md", name+"/plots", name+"/best")
	if len(want) < 8 || !strings.Contains(string(want["README.md"]), "hidden=32 learning_rate=0.004") {
		t.Fatalf("the single run's report is not what this test expects: %d files\n%s", len(want), want["README.md"])
	}
	for _, dir := range []string{shared, cached, apart[0]} {
		got := tree(t, dir, "README.md", name+"/README.md", name+"/plots", name+"/best")
		for _, f := range slices.Sorted(maps.Keys(want)) {
			if !bytes.Equal(got[f], want[f]) {
				t.Errorf("%s: %s differs from the single run's\n--- got:\n%.2000s\n--- want:\n%.2000s", dir, f, got[f], want[f])
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d files, the single run %d", dir, len(got), len(want))
		}
	}

	// The merged directory is a complete results directory: nothing to train.
	_, stderr, code = nnx(t, root, "run", exp, "--results", apart[0])
	if code != 0 || strings.Count(stderr, "done earlier, kept") != 4 {
		t.Errorf("run on the merged directory: exit %d\n%s", code, stderr)
	}
}

// editJSON rewrites a metrics.json through fn.
func editJSON(t *testing.T, path string, fn func(*results.Metrics)) {
	t.Helper()
	m := readMetrics(t, path)
	fn(m)
	b, err := results.MarshalJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// zeroTimings zeroes the timings of every metrics.json under dir.
func zeroTimings(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == results.MetricsFile {
			editJSON(t, p, func(m *results.Metrics) { stripTimes(m) })
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tree reads the files at the given slash paths under dir (directories:
// their files, not dot files), keyed by slash path.
func tree(t *testing.T, dir string, paths ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range paths {
		full := filepath.Join(dir, filepath.FromSlash(p))
		err := filepath.WalkDir(full, func(f string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				return err
			}
			rel, _ := filepath.Rel(dir, f)
			b, err := os.ReadFile(f)
			if err == nil && d.Name() == "manifest.json" {
				b, err = withoutMetricsChecksum(b)
			}
			out[filepath.ToSlash(rel)] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestExportCommand: nnx export's files, its -o and its usage errors.
func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	exp := testdata(t, "small.yaml")
	stdout, stderr, code := nnx(t, dir, "export", "k8s", exp, "--shards", "3", "--image", "nnx:test", "-o", "job.yaml")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "nnx: note: 3 shards for 2 trial(s): shard 2 has no trial") ||
		!strings.Contains(stderr, "nnx: wrote job.yaml") {
		t.Fatalf("export k8s -o: exit %d\n%s\n%s", code, stdout, stderr)
	}
	job, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil || !strings.Contains(string(job), "completionMode: Indexed") || !strings.Contains(string(job), `- "--shard"`) {
		t.Fatalf("job.yaml: %v\n%s", err, job)
	}
	stdout, _, code = nnx(t, dir, "export", "slurm", exp, "--shards", "2", "-p", "1")
	if code != 0 || !strings.Contains(stdout, "#SBATCH --array=0-1%1\n") || !strings.Contains(stdout, `--shard "${SLURM_ARRAY_TASK_ID}/2"`) {
		t.Fatalf("export slurm: exit %d\n%s", code, stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export"}, "nnx: error: expected a target: k8s or slurm\n"},
		{[]string{"export", "nomad", exp}, "nnx: error: unknown target \"nomad\": want k8s or slurm\n"},
		{[]string{"export", "slurm", exp}, "nnx: error: --shards: want a whole number >= 1, got 0\n"},
		{[]string{"export", "k8s", exp, "--shards", "2"}, "nnx: error: --image: required"},
		{[]string{"export", "k8s", exp, "--shards", "2", "--image", "x", "--pvc", "Bad_Name"}, `nnx: error: --pvc: "Bad_Name" is not`},
		{[]string{"export", "slurm", exp, "--shards", "2", "--set", "train.epoch=2"}, `nnx: error: --set train.epoch=2: unknown field "train.epoch"`},
	} {
		stdout, stderr, code := nnx(t, dir, c.args...)
		if code != 2 || stdout != "" || !strings.HasPrefix(stderr, c.want) {
			t.Errorf("nnx %s: exit %d, want 2 and stderr starting %q\n%s", strings.Join(c.args, " "), code, c.want, stderr)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".job.yaml.tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// withoutMetricsChecksum drops a bundle manifest's checksum of its
// metrics.json: it was taken before the test zeroed the timings in that
// file, so it differs between runs for that reason alone; every other
// byte of the manifest must still match.
func withoutMetricsChecksum(manifest []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, err
	}
	if files, ok := m["files"].(map[string]any); ok {
		delete(files, "metrics.json")
	}
	return json.Marshal(m)
}
