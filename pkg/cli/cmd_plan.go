package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/grid"
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
	for _, t := range trials {
		c := t.Config
		fmt.Fprintf(e.stdout, "  %3d  %s  %-32s  %d fold(s) x %d epoch(s), batch %d, %s\n",
			t.Index+1, t.ID, t.Label(), c.Split.Folds, c.Train.Epochs, c.Train.BatchSize, c.Train.Optimizer)
	}
	return nil
}
