// Package export writes what runs an experiment's shards on a cluster: a
// Kubernetes Indexed Job (batch/v1, completionMode Indexed) or a Slurm
// array script. Every pod or array task runs
//
//	nnx run EXPERIMENT --shard N --results DIR
//
// with its shard index from the scheduler ($JOB_COMPLETION_INDEX, or
// ${SLURM_ARRAY_TASK_ID} passed as I/N), so that together they train every
// trial of the grid once into one results directory.
//
// Both files come from text/template templates embedded in the binary.
// The output depends on the options and the experiment alone (no clock, no
// host): every value from a flag is checked, then YAML-quoted or
// shell-quoted where it lands.
package export

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/grid"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Target is what Render writes.
type Target string

// Targets.
const (
	Kubernetes Target = "k8s"   // a batch/v1 Job with completionMode Indexed
	Slurm      Target = "slurm" // an sbatch script with --array=0-(N-1)%P
)

// templateFile is each target's template in templates/.
func templateFile(t Target) string {
	switch t {
	case Kubernetes:
		return "templates/k8s-job.yaml.tmpl"
	case Slurm:
		return "templates/slurm.sh.tmpl"
	}
	return ""
}

// Defaults of Options' zero values.
const (
	DefaultNnx       = "nnx"
	DefaultMountPath = "/results"
	DefaultPVC       = "nnx-results"
	// MaxShards is the most completions Kubernetes allows an Indexed Job.
	MaxShards = 100000
	// GPUResource is the extended resource a pod's GPUs are requested as.
	GPUResource = "nvidia.com/gpu"
)

// Options say what to export. Zero values take the defaults noted.
type Options struct {
	Experiment  string   // the experiment file, as nnx run is given it on the cluster (relative to WorkDir); also read here
	Set         []string // --set overrides: read here, and passed on to every nnx run
	Shards      int      // >= 1
	Parallelism int      // pods or array tasks at a time; 0: Shards (more is capped to Shards)
	Name        string   // the job's name; "": "nnx-" and the experiment's name, DNS-1123 safe
	Nnx         string   // the nnx command; "": nnx (on $PATH)
	WorkDir     string   // the working directory nnx runs in; "": the image's (k8s) or the submit directory (slurm)
	Env         []string // KEY=VALUE environment variables for nnx (e.g. NNX_DATA)
	Jobs        int      // nnx run --jobs; 0: not passed (nnx's default, 1)
	GPUs        int      // GPUs per pod or task; < 0: 1 when the experiment trains on cuda, else 0

	// Kubernetes.
	Image                string // the container image: nnx, the experiment files and the data; required
	CPU, Memory          string // resource requests (Kubernetes quantities, e.g. 2, 500m, 4Gi); "": none
	CPULimit, MemLimit   string // resource limits; "": none
	PVC                  string // the PersistentVolumeClaim holding the results; "": nnx-results
	MountPath            string // where it is mounted; "": /results
	BackoffLimitPerIndex int    // retries of a failed shard, >= 0

	// Results is the results directory: for Kubernetes a path inside the
	// volume ("": its root), for Slurm a path on the shared filesystem
	// ("": the experiment's outputs.dir, relative to the working directory).
	Results string

	// Slurm.
	Partition string // #SBATCH --partition; "": the cluster's default
	Time      string // #SBATCH --time, e.g. 04:00:00 or 1-12:00:00; "": the partition's default
	CPUs      int    // #SBATCH --cpus-per-task; 0: not set
	Mem       string // #SBATCH --mem, e.g. 8G; "": not set
}

// Error is a bad option: the flag that sets it and what is wrong.
type Error struct {
	Flag string
	Msg  string
}

func (e *Error) Error() string { return e.Flag + ": " + e.Msg }

func bad(flag, format string, args ...any) error {
	return &Error{Flag: flag, Msg: fmt.Sprintf(format, args...)}
}

// kv is a name and a value, in a fixed order.
type kv struct{ Name, Value string }

// job is what the templates see: every value checked and defaulted.
type job struct {
	Experiment           string // the file, as given
	ExperimentName       string
	Name                 string
	Shards, Parallelism  int
	LastIndex            int
	BackoffLimitPerIndex int
	Image, WorkDir       string
	Command              []string // Kubernetes: the container's command, one argument each
	ShellCommand         string   // Slurm: the same, as shell words
	Env                  []kv
	Requests, Limits     []kv
	MountPath, PVC       string
	Partition, Time, Mem string
	CPUs, GPUs           int
	// Literal says a shell-quoted value holds $ or `: shellcheck's SC2016
	// (expressions do not expand in single quotes) is what is meant.
	Literal bool
}

// Render writes the target's file for the options. It reads the
// experiment (with the overrides in o.Set, and no NNX_ environment: the
// cluster's nnx does not see this shell's) for its name, its device and
// its trials. notes are things worth saying that are not errors, such as
// shards that will have no trial. Bad options are *Error; a bad
// experiment is config's error.
func Render(target Target, o Options) (out []byte, notes []string, err error) {
	name := templateFile(target)
	if name == "" {
		return nil, nil, bad("target", "unknown target %q (want %s or %s)", target, Kubernetes, Slurm)
	}
	j, notes, err := resolve(target, o)
	if err != nil {
		return nil, nil, err
	}
	text, err := templates.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	out, err = render(name, string(text), j)
	return out, notes, err
}

// render executes a template's text with the job.
func render(name, text string, j *job) ([]byte, error) {
	t, err := template.New(path.Base(name)).Option("missingkey=error").
		Funcs(template.FuncMap{"yaml": yamlQuote, "sh": shellQuote}).Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, j); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// noEnv is the environment the experiment is read in: none.
func noEnv(string) string { return "" }

func resolve(target Target, o Options) (*job, []string, error) {
	var notes []string
	// Every string from a flag: control characters never belong and would
	// break a comment line or an #SBATCH line.
	strs := []struct{ flag, v string }{
		{"experiment", o.Experiment}, {"--name", o.Name}, {"--nnx", o.Nnx}, {"--workdir", o.WorkDir},
		{"--image", o.Image}, {"--cpu", o.CPU}, {"--memory", o.Memory}, {"--cpu-limit", o.CPULimit},
		{"--memory-limit", o.MemLimit}, {"--pvc", o.PVC}, {"--mount", o.MountPath}, {"--results", o.Results},
		{"--partition", o.Partition}, {"--time", o.Time}, {"--mem", o.Mem},
	}
	for _, s := range o.Set {
		strs = append(strs, struct{ flag, v string }{"--set", s})
	}
	for _, s := range o.Env {
		strs = append(strs, struct{ flag, v string }{"--env", s})
	}
	for _, s := range strs {
		if i := strings.IndexFunc(s.v, isControl); i >= 0 {
			return nil, nil, bad(s.flag, "%q contains a control character (%U)", s.v, []rune(s.v[i:])[0])
		}
	}
	if o.Experiment == "" {
		return nil, nil, bad("experiment", "no experiment file given")
	}
	if o.Shards < 1 {
		return nil, nil, bad("--shards", "want a whole number >= 1, got %d", o.Shards)
	}
	if o.Shards > MaxShards {
		return nil, nil, bad("--shards", "at most %d (Kubernetes' limit on an Indexed Job's completions), got %d", MaxShards, o.Shards)
	}
	par := o.Parallelism
	switch {
	case par == 0:
		par = o.Shards
	case par < 0:
		return nil, nil, bad("--parallelism", "want a whole number >= 1, got %d", par)
	case par > o.Shards:
		par = o.Shards
	}
	if o.Jobs < 0 {
		return nil, nil, bad("--jobs", "want a whole number >= 1, got %d", o.Jobs)
	}
	if o.GPUs < -1 {
		return nil, nil, bad("--gpus", "want a whole number >= 0, got %d", o.GPUs)
	}

	l, err := config.Load(o.Experiment, o.Set, noEnv)
	if err != nil {
		return nil, nil, err
	}
	trials, err := grid.Expand(l)
	if err != nil {
		return nil, nil, err
	}
	if o.Shards > len(trials) {
		idle := fmt.Sprintf("shards %d to %d have", len(trials), o.Shards-1)
		if o.Shards-len(trials) == 1 {
			idle = fmt.Sprintf("shard %d has", len(trials))
		}
		notes = append(notes, fmt.Sprintf("%d shards for %d trial(s): %s no trial and will finish at once", o.Shards, len(trials), idle))
	}
	gpus := o.GPUs
	if gpus < 0 {
		gpus = 0
		if l.Base.Device == "cuda" {
			gpus = 1
		}
		for _, t := range trials {
			if t.Config.Device == "cuda" {
				gpus = 1
			}
		}
	}

	j := &job{Experiment: o.Experiment, ExperimentName: l.Name, Shards: o.Shards, Parallelism: par,
		LastIndex: o.Shards - 1, GPUs: gpus, WorkDir: o.WorkDir}
	if strings.IndexFunc(l.Name, isControl) >= 0 {
		return nil, nil, bad("name", "the experiment's name %q contains a control character", l.Name)
	}
	if j.Name, err = jobName(o.Name, l.Name); err != nil {
		return nil, nil, err
	}
	nnx := o.Nnx
	if nnx == "" {
		nnx = DefaultNnx
	}
	for _, s := range o.Env {
		k, v, ok := strings.Cut(s, "=")
		switch {
		case !ok:
			return nil, nil, bad("--env", "%q: want KEY=VALUE", s)
		case !envName().MatchString(k):
			return nil, nil, bad("--env", "%q: %q is not a variable name (letters, digits and _, not starting with a digit)", s, k)
		case k == "JOB_COMPLETION_INDEX" || k == "SLURM_ARRAY_TASK_ID":
			return nil, nil, bad("--env", "%s is set by the scheduler: it is each shard's index", k)
		}
		for _, e := range j.Env {
			if e.Name == k {
				return nil, nil, bad("--env", "%s is given twice", k)
			}
		}
		j.Env = append(j.Env, kv{k, v})
	}
	if o.WorkDir != "" && target == Kubernetes && !strings.HasPrefix(o.WorkDir, "/") {
		return nil, nil, bad("--workdir", "%q: want an absolute path in the container", o.WorkDir)
	}

	args := []string{"run", o.Experiment}
	for _, s := range o.Set {
		args = append(args, "--set", s)
	}
	switch target {
	case Kubernetes:
		if err := kubernetes(j, o); err != nil {
			return nil, nil, err
		}
		results := path.Join(j.MountPath, path.Clean("/" + o.Results)[1:])
		j.Command = append(append([]string{nnx}, args...), "--shard", strconv.Itoa(o.Shards), "--results", results)
		if o.Jobs > 0 {
			j.Command = append(j.Command, "--jobs", strconv.Itoa(o.Jobs))
		}
	case Slurm:
		if err := slurm(j, o); err != nil {
			return nil, nil, err
		}
		results := o.Results
		if results == "" {
			results = l.Outputs.Dir
		}
		words := []string{shellQuote(nnx)}
		for _, a := range args {
			words = append(words, shellQuote(a))
		}
		words = append(words, "--shard", fmt.Sprintf(`"${SLURM_ARRAY_TASK_ID}/%d"`, o.Shards), "--results", shellQuote(results))
		if o.Jobs > 0 {
			words = append(words, "--jobs", strconv.Itoa(o.Jobs))
		}
		j.ShellCommand = strings.Join(words, " ")
		quoted := append(slices.Clone(words), shellQuote(j.WorkDir))
		for _, e := range j.Env {
			quoted = append(quoted, shellQuote(e.Value))
		}
		for _, q := range quoted {
			j.Literal = j.Literal || strings.HasPrefix(q, "'") && strings.ContainsAny(q, "$`")
		}
	}
	return j, notes, nil
}

// kubernetes checks and fills the Job's fields.
func kubernetes(j *job, o Options) error {
	if o.Image == "" {
		return bad("--image", "required: the container image with nnx, the experiment files and the MNIST data")
	}
	if strings.ContainsAny(o.Image, " \t") {
		return bad("--image", "%q: an image reference has no spaces", o.Image)
	}
	j.Image = o.Image
	j.BackoffLimitPerIndex = o.BackoffLimitPerIndex
	if j.BackoffLimitPerIndex < 0 {
		return bad("--backoff-limit-per-index", "want a whole number >= 0, got %d", j.BackoffLimitPerIndex)
	}
	j.PVC = o.PVC
	if j.PVC == "" {
		j.PVC = DefaultPVC
	}
	if len(j.PVC) > 253 || !dnsSubdomain().MatchString(j.PVC) {
		return bad("--pvc", "%q is not a PersistentVolumeClaim name (lower-case letters, digits, '-' and '.', at most 253)", j.PVC)
	}
	j.MountPath = o.MountPath
	if j.MountPath == "" {
		j.MountPath = DefaultMountPath
	}
	if !strings.HasPrefix(j.MountPath, "/") || j.MountPath == "/" || strings.Contains(j.MountPath, ":") {
		return bad("--mount", "%q: want an absolute path other than / and without ':'", j.MountPath)
	}
	j.MountPath = path.Clean(j.MountPath)
	if r := o.Results; path.IsAbs(r) || r == ".." || strings.HasPrefix(r, "../") || strings.HasPrefix(path.Clean(r), "../") {
		return bad("--results", "%q: want a path inside the volume, relative to --mount", r)
	}
	for _, q := range []struct{ flag, name, v string }{
		{"--cpu", "cpu", o.CPU}, {"--memory", "memory", o.Memory},
	} {
		if q.v == "" {
			continue
		}
		if !quantity().MatchString(q.v) {
			return bad(q.flag, "%q is not a Kubernetes quantity (e.g. 2, 500m, 4Gi)", q.v)
		}
		j.Requests = append(j.Requests, kv{q.name, q.v})
	}
	for _, q := range []struct{ flag, name, v string }{
		{"--cpu-limit", "cpu", o.CPULimit}, {"--memory-limit", "memory", o.MemLimit},
	} {
		if q.v == "" {
			continue
		}
		if !quantity().MatchString(q.v) {
			return bad(q.flag, "%q is not a Kubernetes quantity (e.g. 2, 500m, 4Gi)", q.v)
		}
		j.Limits = append(j.Limits, kv{q.name, q.v})
	}
	if j.GPUs > 0 {
		// Extended resources are limits (their request defaults to it).
		j.Limits = append(j.Limits, kv{GPUResource, strconv.Itoa(j.GPUs)})
	}
	return nil
}

// slurm checks the #SBATCH values: they are read by sbatch, not a shell,
// so they cannot be quoted and must be plain.
func slurm(j *job, o Options) error {
	if o.Partition != "" && !partition().MatchString(o.Partition) {
		return bad("--partition", "%q: want partition names (letters, digits, '_', '-', '.', comma-separated)", o.Partition)
	}
	if o.Time != "" && !slurmTime().MatchString(o.Time) {
		return bad("--time", "%q: want minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS", o.Time)
	}
	if o.Mem != "" && !slurmMem().MatchString(o.Mem) {
		return bad("--mem", "%q: want a size in megabytes, or with a unit: 8000, 8G, 512M", o.Mem)
	}
	if o.CPUs < 0 {
		return bad("--cpus", "want a whole number >= 1, got %d", o.CPUs)
	}
	j.Partition, j.Time, j.Mem, j.CPUs = o.Partition, o.Time, o.Mem, o.CPUs
	return nil
}

// jobName checks a given name, or derives one from the experiment's:
// "nnx-" and its name in lower case, other characters as '-', at most 63
// (a DNS-1123 label, which Kubernetes and Slurm both accept).
func jobName(given, experiment string) (string, error) {
	if given != "" {
		if len(given) > 63 || !dnsLabel().MatchString(given) {
			return "", bad("--name", "%q is not a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63)", given)
		}
		return given, nil
	}
	var b strings.Builder
	b.WriteString("nnx-")
	dash := true
	for _, r := range strings.ToLower(experiment) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := b.String()
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.TrimRight(name, "-")
	if name == "nnx" || name == "" {
		name = "nnx-sweep"
	}
	return name, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Patterns, compiled per call: no package-level state.
func dnsLabel() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`) }
func dnsSubdomain() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
}
func envName() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) }

// quantity is a Kubernetes resource quantity: a decimal number and a
// binary (Ki..Ei) or decimal (m, k, M..E) suffix or an exponent.
func quantity() *regexp.Regexp {
	return regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][-+]?[0-9]+)?$`)
}
func partition() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$`) }
func slurmTime() *regexp.Regexp {
	return regexp.MustCompile(`^([0-9]+(:[0-9]{1,2}){0,2}|[0-9]+-[0-9]{1,2}(:[0-9]{1,2}){0,2}|UNLIMITED|infinite)$`)
}
func slurmMem() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+[KMGT]?$`) }

// yamlQuote writes s as a YAML double-quoted scalar: JSON's string syntax,
// which YAML reads the same, so no value can end the scalar early.
func yamlQuote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// shellQuote writes s as one shell word: as is when it holds only
// characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
