package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nnx-dev/nnx/pkg/export"
	"github.com/nnx-dev/nnx/pkg/results"
)

// exportOptions are nnx export's flags.
type exportOptions struct {
	export.Options
	out string
}

func newExportCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "export k8s|slurm EXPERIMENT.yaml --shards N",
		Short: "Write a Kubernetes Indexed Job or a Slurm array script that runs a sweep's shards",
		Long: `Write what runs an experiment's grid on a cluster in N shards: each pod or
array task runs 'nnx run EXPERIMENT --shard ...' into one results directory
(trial k belongs to shard k mod N), and 'nnx report' on that directory then
shows the table one machine would have produced.

  nnx export k8s   a batch/v1 Job, completionMode Indexed: completions N,
                   the results volume a PersistentVolumeClaim (ReadWriteMany)
  nnx export slurm an sbatch script with --array=0-(N-1)%P

The experiment file is read here (its name, device and trials; no NNX_
variables) and must be at the same path on the cluster, relative to
--workdir. Output goes to stdout, or to -o FILE (written atomically).`,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("expected a target: %s or %s", export.Kubernetes, export.Slurm)}
			}
			return usageError{fmt.Errorf("unknown target %q: want %s or %s", args[0], export.Kubernetes, export.Slurm)}
		},
	}
	c.AddCommand(newExportTargetCmd(e, export.Kubernetes), newExportTargetCmd(e, export.Slurm))
	return c
}

func newExportTargetCmd(e *env, target export.Target) *cobra.Command {
	o := &exportOptions{}
	c := &cobra.Command{
		Args: exactArgs(1, "one experiment file"),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Experiment = args[0]
			return runExport(e, target, o)
		},
	}
	f := c.Flags()
	switch target {
	case export.Kubernetes:
		c.Use = "k8s EXPERIMENT.yaml --shards N --image IMAGE"
		c.Short = "Write a Kubernetes Indexed Job (batch/v1) that runs the sweep in N shards"
	case export.Slurm:
		c.Use = "slurm EXPERIMENT.yaml --shards N"
		c.Short = "Write an sbatch script: a Slurm array of N shards"
	}
	commonExportFlags(f, o)
	switch target {
	case export.Kubernetes:
		f.StringVar(&o.Image, "image", "", "container image with nnx, the experiment files and the MNIST data (required)")
		f.StringVar(&o.CPU, "cpu", "1", "CPU request per pod (a Kubernetes quantity; empty: none)")
		f.StringVar(&o.Memory, "memory", "2Gi", "memory request per pod (empty: none)")
		f.StringVar(&o.CPULimit, "cpu-limit", "", "CPU limit per pod (empty: none)")
		f.StringVar(&o.MemLimit, "memory-limit", "", "memory limit per pod (empty: none)")
		f.IntVar(&o.GPUs, "gpus", -1, "GPUs per pod, as nvidia.com/gpu limits (default: 1 when the experiment's device is cuda, else 0)")
		f.StringVar(&o.PVC, "pvc", export.DefaultPVC, "PersistentVolumeClaim holding the results, shared by every pod")
		f.StringVar(&o.MountPath, "mount", export.DefaultMountPath, "where the claim is mounted")
		f.StringVar(&o.Results, "results", "", "results directory inside the volume (default: its root)")
		f.IntVar(&o.BackoffLimitPerIndex, "backoff-limit-per-index", 1, "retries of a failed shard (finished trials are kept)")
		f.StringVar(&o.WorkDir, "workdir", "", "the container's working directory, where the experiment path is relative to (default: the image's)")
	case export.Slurm:
		f.StringVar(&o.Partition, "partition", "", "#SBATCH --partition (default: the cluster's)")
		f.StringVar(&o.Time, "time", "", "#SBATCH --time per task, e.g. 04:00:00 (default: the partition's)")
		f.IntVar(&o.CPUs, "cpus", 0, "#SBATCH --cpus-per-task (default: not set)")
		f.StringVar(&o.Mem, "mem", "", "#SBATCH --mem per task, e.g. 8G (default: not set)")
		f.IntVar(&o.GPUs, "gpus", -1, "#SBATCH --gres=gpu:N per task (default: 1 when the experiment's device is cuda, else none)")
		f.StringVar(&o.Results, "results", "", "results directory on the shared filesystem (default: the experiment's outputs.dir)")
		f.StringVar(&o.WorkDir, "workdir", "", "directory the task runs in (default: where sbatch was run)")
	}
	return c
}

func commonExportFlags(f *pflag.FlagSet, o *exportOptions) {
	f.IntVar(&o.Shards, "shards", 0, "number of shards N (required)")
	f.IntVarP(&o.Parallelism, "parallelism", "p", 0, "shards running at a time (default: all)")
	f.StringVar(&o.Name, "name", "", "job name (default: nnx- and the experiment's name)")
	f.StringArrayVar(&o.Set, "set", nil, "override a field: key=value (repeatable; passed on to every nnx run)")
	f.StringArrayVar(&o.Env, "env", nil, "environment variable for nnx: KEY=VALUE (repeatable; e.g. NNX_DATA=/data/mnist)")
	f.IntVarP(&o.Jobs, "jobs", "j", 0, "nnx run --jobs: folds trained side by side in each shard (default: not passed)")
	f.StringVar(&o.Nnx, "nnx", export.DefaultNnx, "the nnx command on the cluster")
	f.StringVarP(&o.out, "output", "o", "", "write to this file (atomically) instead of stdout")
}

func runExport(e *env, target export.Target, o *exportOptions) error {
	out, notes, err := export.Render(target, o.Options)
	var oe *export.Error
	if errors.As(err, &oe) {
		return usageError{oe}
	}
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(e.stderr, "nnx: note: "+n)
	}
	if o.out == "" {
		_, err := e.stdout.Write(out)
		return err
	}
	if err := results.WriteFile(o.out, out); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "nnx: wrote %s\n", o.out)
	return nil
}
