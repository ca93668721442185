package cli

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nnx-dev/nnx/pkg/report"
	"github.com/nnx-dev/nnx/pkg/results"
)

// reportOptions are nnx report's flags.
type reportOptions struct {
	format string
	inject []string
}

func newReportCmd(e *env) *cobra.Command {
	o := &reportOptions{}
	c := &cobra.Command{
		Use:   "report [RESULTS_DIR]",
		Short: "Write README tables and plots from stored results, without training",
		Long: `Read every experiment under the results directory (default: $NNX_RESULTS,
else ./results) and write, from the stored files alone:
  RESULTS/README.md                  every experiment's table, with links
  RESULTS/<experiment>/README.md     its table, plots and trials
  RESULTS/<experiment>/plots/*.png   learning and loss curves per trial, test
                                     accuracy against each swept hyperparameter,
                                     the best trial's confusion matrix
and print the tables. The same results give the same bytes; files whose
bytes would not change are not rewritten.

--inject FILE (repeatable) also fills every block of a markdown file
between <!-- nnx:report EXPERIMENT --> and <!-- /nnx:report --> with that
experiment's table, a link to its page and its best trial's learning curve,
leaving the rest of the file as it is.

--format md|csv|json prints the tables to stdout and writes no file. csv:
each experiment's header and rows after a "# experiment NAME" line, an
empty line between experiments. json: an array of {experiment, title, keys,
columns, trials, status, rows}.`,
		Args: maxArgs(1, "at most one results directory"),
		RunE: func(_ *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			return runReport(e, o, dir)
		},
	}
	c.Flags().StringVar(&o.format, "format", "", "print the tables as "+strings.Join(report.Formats(), ", ")+" and write no file")
	c.Flags().StringArrayVar(&o.inject, "inject", nil, "also fill the nnx:report blocks of this markdown file (repeatable)")
	return c
}

func runReport(e *env, o *reportOptions, dir string) error {
	if dir == "" {
		dir = e.getenv("NNX_RESULTS")
	}
	if dir == "" {
		dir = "results"
	}
	if o.format != "" && !slices.Contains(report.Formats(), o.format) {
		return usageError{fmt.Errorf("--format %s: want one of %s", o.format, strings.Join(report.Formats(), ", "))}
	}
	if o.format != "" && len(o.inject) > 0 {
		return usageError{fmt.Errorf("--format prints tables and writes no file; it cannot be combined with --inject")}
	}
	exps, err := report.Load(dir)
	if err != nil {
		return err
	}
	if o.format != "" {
		return report.WriteFormat(e.stdout, o.format, exps)
	}
	files, err := report.Files(exps)
	if err != nil {
		return err
	}
	// Check every file to inject before writing anything.
	type injection struct {
		file     string
		src, out []byte
		names    []string
	}
	var injections []injection
	for _, f := range o.inject {
		src, out, names, err := report.Injected(f, dir, exps)
		if err != nil {
			return err
		}
		injections = append(injections, injection{f, src, out, names})
	}
	changed, err := report.Write(dir, exps, files)
	if err != nil {
		return err
	}
	if err := report.WriteTerminal(e.stdout, exps); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "nnx: report in %s: %d file(s), %d changed\n", dir, len(files), len(changed))
	for _, in := range injections {
		if !bytes.Equal(in.src, in.out) {
			if err := results.WriteFile(in.file, in.out); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stderr, "nnx: filled %s in %s\n", strings.Join(in.names, ", "), filepath.ToSlash(in.file))
	}
	return nil
}

// maxArgs is cobra.MaximumNArgs with errors that map to the usage exit code.
func maxArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError{fmt.Errorf("expected %s, got %d argument(s)", what, len(args))}
		}
		return nil
	}
}
