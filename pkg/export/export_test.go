package export

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	goldenfile "github.com/nnx-dev/nnx/internal/golden"
)

// update rewrites the golden files: go test ./pkg/export -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), got, *update, "./pkg/export")
}

// cases are the golden outputs: defaults on a CPU experiment, and every
// flag on a cuda one.
var cases = []struct {
	golden string
	target Target
	opts   Options
}{
	{"k8s-sweep.yaml", Kubernetes, Options{Experiment: "testdata/sweep.yaml", Shards: 4, Image: "ghcr.io/nnx-dev/nnx:0.1.0",
		CPU: "1", Memory: "2Gi", BackoffLimitPerIndex: 1, GPUs: -1}},
	{"k8s-cuda.yaml", Kubernetes, Options{Experiment: "testdata/cuda.yaml", Shards: 20, Parallelism: 5,
		Image: "registry.example.com/ml/nnx@sha256:0123abcd", CPU: "4", Memory: "16Gi", CPULimit: "8", MemLimit: "16Gi",
		PVC: "sweeps.shared", MountPath: "/mnt/nnx/", Results: "big/run-1", BackoffLimitPerIndex: 3, GPUs: -1,
		Name: "cuda-sweep", Nnx: "/usr/local/bin/nnx", WorkDir: "/src/nnx", Jobs: 2,
		Env: []string{"NNX_DATA=/data/mnist", `NOTE=it's "quoted": #not a comment`},
		Set: []string{"seed=7", "train.batch_size=64"}}},
	{"slurm-sweep.sh", Slurm, Options{Experiment: "testdata/sweep.yaml", Shards: 4, GPUs: -1}},
	{"slurm-cuda.sh", Slurm, Options{Experiment: "testdata/cuda.yaml", Shards: 20, Parallelism: 5,
		Partition: "gpu,gpu-long", Time: "1-12:00:00", CPUs: 8, Mem: "32G", GPUs: -1, Results: "/shared/nnx results",
		Name: "cuda-sweep", Nnx: "./nnx", WorkDir: "/home/me/my nnx", Jobs: 4,
		Env: []string{"NNX_DATA=/data/mnist", `NOTE=it's "quoted" $(not run)`},
		Set: []string{"seed=7", "train.batch_size=64"}}},
}

func render1(t *testing.T, target Target, o Options) []byte {
	t.Helper()
	out, _, err := Render(target, o)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			out := render1(t, c.target, c.opts)
			golden(t, c.golden, out)
			if again := render1(t, c.target, c.opts); !bytes.Equal(out, again) {
				t.Error("two renders differ")
			}
		})
	}
}

// decodeJob decodes a Job the way the API server's strict field
// validation does: YAML to JSON (duplicate keys are errors), then JSON
// into the batch/v1 types, case-sensitive, unknown and duplicate fields
// errors.
func decodeJob(b []byte) (*batchv1.Job, error) {
	js, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return nil, err
	}
	var job batchv1.Job
	strictErrs, err := k8sjson.UnmarshalStrict(js, &job, k8sjson.DisallowDuplicateFields, k8sjson.DisallowUnknownFields)
	if err != nil {
		return nil, err
	}
	if len(strictErrs) > 0 {
		return nil, errors.Join(strictErrs...)
	}
	return &job, nil
}

func TestJobDecodesStrictly(t *testing.T) {
	type want struct {
		completions, parallelism, backoff int32
		pvc, mount, gpus, workDir         string
		command                           []string
		env                               []corev1.EnvVar
	}
	for _, c := range []struct {
		golden string
		want   want
	}{
		{"k8s-sweep.yaml", want{4, 4, 1, "nnx-results", "/results", "", "",
			[]string{"nnx", "run", "testdata/sweep.yaml", "--shard", "4", "--results", "/results"}, nil}},
		{"k8s-cuda.yaml", want{20, 5, 3, "sweeps.shared", "/mnt/nnx", "1", "/src/nnx",
			[]string{"/usr/local/bin/nnx", "run", "testdata/cuda.yaml", "--set", "seed=7", "--set", "train.batch_size=64",
				"--shard", "20", "--results", "/mnt/nnx/big/run-1", "--jobs", "2"},
			[]corev1.EnvVar{{Name: "NNX_DATA", Value: "/data/mnist"}, {Name: "NOTE", Value: `it's "quoted": #not a comment`}}}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			var opts Options
			for _, k := range cases {
				if k.golden == c.golden {
					opts = k.opts
				}
			}
			job, err := decodeJob(render1(t, Kubernetes, opts))
			if err != nil {
				t.Fatalf("strict decoding into batch/v1 Job: %v", err)
			}
			w := c.want
			s := job.Spec
			if job.APIVersion != "batch/v1" || job.Kind != "Job" {
				t.Errorf("apiVersion %q, kind %q", job.APIVersion, job.Kind)
			}
			if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
				t.Errorf("completionMode %v, want Indexed", s.CompletionMode)
			}
			if s.Completions == nil || *s.Completions != w.completions {
				t.Errorf("completions %v, want %d", s.Completions, w.completions)
			}
			if s.Parallelism == nil || *s.Parallelism != w.parallelism {
				t.Errorf("parallelism %v, want %d", s.Parallelism, w.parallelism)
			}
			if s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex != w.backoff {
				t.Errorf("backoffLimitPerIndex %v, want %d", s.BackoffLimitPerIndex, w.backoff)
			}
			pod := s.Template.Spec
			if pod.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("restartPolicy %q, want Never (backoffLimitPerIndex counts failed pods)", pod.RestartPolicy)
			}
			if len(pod.Volumes) != 1 || pod.Volumes[0].PersistentVolumeClaim == nil || pod.Volumes[0].PersistentVolumeClaim.ClaimName != w.pvc {
				t.Fatalf("volumes %+v, want one PersistentVolumeClaim %q", pod.Volumes, w.pvc)
			}
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers", len(pod.Containers))
			}
			ct := pod.Containers[0]
			if len(ct.VolumeMounts) != 1 || ct.VolumeMounts[0].Name != pod.Volumes[0].Name || ct.VolumeMounts[0].MountPath != w.mount {
				t.Errorf("volumeMounts %+v, want %s at %s", ct.VolumeMounts, pod.Volumes[0].Name, w.mount)
			}
			if !slices.Equal(ct.Command, w.command) {
				t.Errorf("command\n %q\nwant\n %q", ct.Command, w.command)
			}
			if !slices.Equal(ct.Env, w.env) {
				t.Errorf("env %+v, want %+v", ct.Env, w.env)
			}
			if ct.WorkingDir != w.workDir {
				t.Errorf("workingDir %q, want %q", ct.WorkingDir, w.workDir)
			}
			gpu, ok := ct.Resources.Limits[GPUResource]
			switch {
			case w.gpus == "" && ok:
				t.Errorf("a CPU experiment asks for %s GPUs", gpu.String())
			case w.gpus != "" && (!ok || gpu.String() != w.gpus):
				t.Errorf("GPU limit %v (set %v), want %s", gpu.String(), ok, w.gpus)
			}
			if job.Name == "" || job.Spec.Template.Labels["app.kubernetes.io/instance"] != job.Name {
				t.Errorf("name %q, pod labels %v", job.Name, job.Spec.Template.Labels)
			}
		})
	}
	if job, _ := decodeJob(render1(t, Kubernetes, cases[0].opts)); job != nil && job.Name != "nnx-big-sweep-v2" {
		t.Errorf("derived name %q, want nnx-big-sweep-v2", job.Name)
	}
}

// TestStrictDecodingCatchesTypos proves the check above works: a template
// copy with a misspelled field (or a field in the wrong case, which Go's
// encoding/json would accept) fails to decode.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	text, err := templates.ReadFile(templateFile(Kubernetes))
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := resolve(Kubernetes, cases[1].opts)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := render("copy", string(text), j); err != nil {
		t.Fatal(err)
	} else if _, err := decodeJob(out); err != nil {
		t.Fatalf("the unchanged template does not decode: %v", err)
	}
	for _, typo := range [][2]string{
		{"completionMode:", "completionMod:"},
		{"backoffLimitPerIndex:", "backoffLimitPerIndx:"},
		{"claimName:", "claimname:"},
		{"mountPath:", "mountpath:"},
		{"restartPolicy:", "restartpolicy:"},
		{"          command:", "          commands:"},
	} {
		if !strings.Contains(string(text), typo[0]) {
			t.Fatalf("the template has no %q", typo[0])
		}
		out, err := render("copy", strings.Replace(string(text), typo[0], typo[1], 1), j)
		if err != nil {
			t.Fatal(err)
		}
		field := strings.TrimSpace(strings.TrimSuffix(typo[1], ":"))
		if _, err := decodeJob(out); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s -> %s: decoding error %v, want one naming %q", typo[0], typo[1], err, field)
		}
	}
}

// TestSlurmScript runs shellcheck on the scripts, and runs them with a
// fake nnx that prints its arguments: every value arrives as written.
func TestSlurmScript(t *testing.T) {
	for _, c := range cases {
		if c.target != Slurm {
			continue
		}
		out := render1(t, Slurm, c.opts)
		path := filepath.Join(t.TempDir(), c.golden)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		if sc, err := exec.LookPath("shellcheck"); err != nil {
			t.Logf("shellcheck is not installed (apt-get install shellcheck): skipping the lint of %s", c.golden)
		} else if msg, err := exec.Command(sc, "--shell=bash", "--severity=style", path).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", c.golden, err, msg)
		}
		if msg, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", c.golden, err, msg)
		}
	}

	// Run the cuda script with a fake nnx in a working directory whose name
	// needs quoting.
	dir := t.TempDir()
	work := filepath.Join(dir, `it's a "dir"`)
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(dir, "fake nnx")
	script := "#!/bin/sh\npwd\nprintf '%s\\n' \"$NNX_DATA\" \"$NOTE\" \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	o := cases[3].opts
	o.Nnx, o.WorkDir = fake, work
	o.Set = append(o.Set, "name=it's $HOME")
	path := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(path, render1(t, Slurm, o), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", path)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=7")
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	want := strings.Join([]string{work, "/data/mnist", `it's "quoted" $(not run)`, "run", "testdata/cuda.yaml",
		"--set", "seed=7", "--set", "train.batch_size=64", "--set", "name=it's $HOME",
		"--shard", "7/20", "--results", "/shared/nnx results", "--jobs", "4"}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("the script ran nnx with\n%s\nwant\n%s", got, want)
	}
}

func TestGPUs(t *testing.T) {
	for _, c := range []struct {
		file string
		gpus int
		want string
	}{
		{"testdata/cuda.yaml", -1, "#SBATCH --gres=gpu:1\n"},
		{"testdata/cuda.yaml", 0, ""},
		{"testdata/sweep.yaml", -1, ""},
		{"testdata/sweep.yaml", 2, "#SBATCH --gres=gpu:2\n"},
	} {
		out := string(render1(t, Slurm, Options{Experiment: c.file, Shards: 2, GPUs: c.gpus}))
		if c.want == "" && strings.Contains(out, "--gres") || c.want != "" && !strings.Contains(out, c.want) {
			t.Errorf("%s --gpus %d: want %q in\n%s", c.file, c.gpus, c.want, out)
		}
	}
	// A grid that sweeps the device onto cuda needs GPUs too.
	out := string(render1(t, Kubernetes, Options{Experiment: "testdata/sweep.yaml", Shards: 2, GPUs: -1, Image: "i",
		Set: []string{"device=cuda"}}))
	if !strings.Contains(out, "nvidia.com/gpu: \"1\"") {
		t.Errorf("--set device=cuda: no GPU limit:\n%s", out)
	}
}

func TestErrors(t *testing.T) {
	base := func(target Target) Options {
		return Options{Experiment: "testdata/sweep.yaml", Shards: 4, Image: "img", GPUs: -1}
	}
	for _, c := range []struct {
		target Target
		edit   func(*Options)
		want   string
	}{
		{Kubernetes, func(o *Options) { o.Shards = 0 }, "--shards: want a whole number >= 1, got 0"},
		{Slurm, func(o *Options) { o.Shards = -3 }, "--shards: want a whole number >= 1, got -3"},
		{Kubernetes, func(o *Options) { o.Shards = MaxShards + 1 }, "--shards: at most 100000"},
		{Kubernetes, func(o *Options) { o.Parallelism = -1 }, "--parallelism: want a whole number >= 1, got -1"},
		{Kubernetes, func(o *Options) { o.Image = "" }, "--image: required"},
		{Kubernetes, func(o *Options) { o.Image = "a b" }, "--image: \"a b\": an image reference has no spaces"},
		{Kubernetes, func(o *Options) { o.Image = "img\nkind: Pod" }, `--image: "img\nkind: Pod" contains a control character (U+000A)`},
		{Kubernetes, func(o *Options) { o.Name = "My_Job" }, `--name: "My_Job" is not a DNS-1123 label`},
		{Slurm, func(o *Options) { o.Name = "a b" }, `--name: "a b" is not a DNS-1123 label`},
		{Kubernetes, func(o *Options) { o.PVC = "Results!" }, `--pvc: "Results!" is not a PersistentVolumeClaim name`},
		{Kubernetes, func(o *Options) { o.MountPath = "results" }, `--mount: "results": want an absolute path`},
		{Kubernetes, func(o *Options) { o.Results = "../other" }, `--results: "../other": want a path inside the volume`},
		{Kubernetes, func(o *Options) { o.Results = "/abs" }, `--results: "/abs": want a path inside the volume`},
		{Kubernetes, func(o *Options) { o.Memory = "4 GB" }, `--memory: "4 GB" is not a Kubernetes quantity`},
		{Kubernetes, func(o *Options) { o.CPULimit = "two" }, `--cpu-limit: "two" is not a Kubernetes quantity`},
		{Kubernetes, func(o *Options) { o.BackoffLimitPerIndex = -1 }, "--backoff-limit-per-index: want a whole number >= 0"},
		{Kubernetes, func(o *Options) { o.WorkDir = "src" }, `--workdir: "src": want an absolute path in the container`},
		{Kubernetes, func(o *Options) { o.GPUs = -2 }, "--gpus: want a whole number >= 0, got -2"},
		{Kubernetes, func(o *Options) { o.Jobs = -1 }, "--jobs: want a whole number >= 1, got -1"},
		{Kubernetes, func(o *Options) { o.Env = []string{"NNX_DATA"} }, `--env: "NNX_DATA": want KEY=VALUE`},
		{Kubernetes, func(o *Options) { o.Env = []string{"1X=2"} }, `--env: "1X=2": "1X" is not a variable name`},
		{Kubernetes, func(o *Options) { o.Env = []string{"A=1", "A=2"} }, "--env: A is given twice"},
		{Slurm, func(o *Options) { o.Env = []string{"SLURM_ARRAY_TASK_ID=3"} }, "--env: SLURM_ARRAY_TASK_ID is set by the scheduler"},
		{Slurm, func(o *Options) { o.Partition = "gpu; rm" }, `--partition: "gpu; rm": want partition names`},
		{Slurm, func(o *Options) { o.Time = "4h" }, `--time: "4h": want minutes`},
		{Slurm, func(o *Options) { o.Mem = "8 GB" }, `--mem: "8 GB": want a size`},
		{Slurm, func(o *Options) { o.CPUs = -1 }, "--cpus: want a whole number >= 1, got -1"},
		{Slurm, func(o *Options) { o.Set = []string{"a\tb=1"} }, `--set: "a\tb=1" contains a control character (U+0009)`},
		{Slurm, func(o *Options) { o.Experiment = "" }, "experiment: no experiment file given"},
		{Target("nomad"), func(*Options) {}, `target: unknown target "nomad"`},
	} {
		o := base(c.target)
		c.edit(&o)
		_, _, err := Render(c.target, o)
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v (%T), want *Error starting %q", c.target, err, err, c.want)
		}
	}
	// A bad experiment is config's error, with its file and line.
	_, _, err := Render(Slurm, Options{Experiment: "testdata/sweep.yaml", Shards: 2, Set: []string{"train.epoch=2"}})
	if err == nil || !strings.Contains(err.Error(), `unknown field "train.epoch"`) {
		t.Errorf("bad --set: %v", err)
	}
}

func TestNotesAndNames(t *testing.T) {
	_, notes, err := Render(Slurm, Options{Experiment: "testdata/sweep.yaml", Shards: 6, GPUs: -1})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"6 shards for 4 trial(s): shards 4 to 5 have no trial and will finish at once"}; !slices.Equal(notes, want) {
		t.Errorf("notes %q, want %q", notes, want)
	}
	for _, c := range [][2]string{
		{"mlp-sweep", "nnx-mlp-sweep"}, {"Big Sweep_v2", "nnx-big-sweep-v2"}, {"--", "nnx-sweep"},
		{"über.Nets", "nnx-ber-nets"}, {strings.Repeat("x", 100), "nnx-" + strings.Repeat("x", 59)},
		{strings.Repeat("a", 58) + "-.-b", "nnx-" + strings.Repeat("a", 58)},
	} {
		got, err := jobName("", c[0])
		if err != nil || got != c[1] || len(got) > 63 {
			t.Errorf("jobName(%q) = %q, %v; want %q", c[0], got, err, c[1])
		}
	}
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"plain/path-1.yaml": "plain/path-1.yaml", "": "''", "a b": "'a b'", "it's": `'it'\''s'`,
		"$HOME": "'$HOME'", "~/x": "'~/x'", "a*": "'a*'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"a": `"a"`, `say "hi": #x`: `"say \"hi\": #x"`, "<&>": `"<&>"`, `back\slash`: `"back\\slash"`,
	} {
		if got := yamlQuote(in); got != want {
			t.Errorf("yamlQuote(%q) = %s, want %s", in, got, want)
		}
		var back string
		if err := yaml.Unmarshal([]byte("v: "+yamlQuote(in)), &struct{ V *string }{&back}); err != nil || back != in {
			t.Errorf("yamlQuote(%q) reads back as %q, %v", in, back, err)
		}
	}
}
