package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/grid"
	"github.com/nnx-dev/nnx/pkg/model"
)

// planOptions are nnx plan's flags.
type planOptions struct {
	set []string
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
	return c
}

func runPlan(e *env, o *planOptions, file string) error {
	l, err := config.Load(file, o.set, e.getenv)
	if err != nil {
		return err
	}
	trials, err := grid.Expand(l)
	if err != nil {
		return err
	}
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
	for _, t := range trials {
		c := t.Config
		fmt.Fprintf(e.stdout, "  %3d  %s  %-32s  %d fold(s) x %d epoch(s), batch %d, %s\n",
			t.Index+1, t.ID, t.Label(), c.Split.Folds, c.Train.Epochs, c.Train.BatchSize, c.Train.Optimizer)
	}
	return nil
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
