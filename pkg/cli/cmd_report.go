package cli

import (
	"bytes"
	"errors"
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
	out    string
}

func newReportCmd(e *env) *cobra.Command {
	o := &reportOptions{}
	c := &cobra.Command{
		Use:   "report [RESULTS_DIR...]",
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
columns, trials, status, rows}.

Several directories (shards of a sweep run apart, say) are merged into the
first, or into --out DIR: experiments by name (their grids must agree), a
trial found in several directories once. Copies of a trial must have the
same metrics (timings aside), else nnx reports a reproducibility failure
naming the trial, the directories and the numbers, writes nothing and
exits 1; the copy kept is the output directory's, else the first
directory's that is done. The output directory gets every trial's files
and the best trial's best/, so that it is one complete results directory;
the others are only read. With --format nothing is written.`,
		RunE: func(_ *cobra.Command, args []string) error {
			return runReport(e, o, args)
		},
	}
	c.Flags().StringVar(&o.format, "format", "", "print the tables as "+strings.Join(report.Formats(), ", ")+" and write no file")
	c.Flags().StringArrayVar(&o.inject, "inject", nil, "also fill the nnx:report blocks of this markdown file (repeatable)")
	c.Flags().StringVar(&o.out, "out", "", "write the merged results and the report here (default: the first directory)")
	return c
}

func runReport(e *env, o *reportOptions, dirs []string) error {
	if len(dirs) == 0 {
		dirs = []string{firstNonEmpty(e.getenv("NNX_RESULTS"), "results")}
	}
	dir := firstNonEmpty(o.out, dirs[0])
	if o.format != "" && !slices.Contains(report.Formats(), o.format) {
		return usageError{fmt.Errorf("--format %s: want one of %s", o.format, strings.Join(report.Formats(), ", "))}
	}
	if o.format != "" && len(o.inject) > 0 {
		return usageError{fmt.Errorf("--format prints tables and writes no file; it cannot be combined with --inject")}
	}
	if o.format != "" && o.out != "" {
		return usageError{fmt.Errorf("--format prints tables and writes no file; it cannot be combined with --out")}
	}
	exps, err := loadReport(e, o, dirs, dir)
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

// loadReport reads the results to report: one directory as it is, or
// several merged into out (without writing when --format prints).
func loadReport(e *env, o *reportOptions, dirs []string, out string) ([]*report.Experiment, error) {
	if len(dirs) == 1 && results.SameDir(dirs[0], out) {
		return report.Load(out)
	}
	// The output directory's trials are preferred, then the arguments' in order.
	var srcs []report.Source
	for i, d := range append([]string{out}, dirs...) {
		if slices.ContainsFunc(srcs, func(s report.Source) bool { return results.SameDir(s.Dir, d) }) {
			continue
		}
		exps, err := report.Load(d)
		var nr *report.NoResultsError
		if i == 0 && errors.As(err, &nr) && !slices.ContainsFunc(dirs, func(x string) bool { return results.SameDir(x, d) }) {
			continue // a new --out directory
		}
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, report.Source{Dir: d, Experiments: exps})
	}
	merged, err := report.Merge(srcs)
	if err != nil {
		return nil, err
	}
	for _, n := range merged.Notes {
		fmt.Fprintln(e.stderr, "nnx: note: "+n)
	}
	if o.format != "" {
		return merged.Experiments, nil
	}
	copied, notes, err := merged.Into(out)
	for _, n := range notes {
		fmt.Fprintln(e.stderr, "nnx: note: "+n)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "nnx: merged %d result director%s into %s: %d trial(s) copied\n",
		len(srcs), map[bool]string{true: "y", false: "ies"}[len(srcs) == 1], out, len(copied))
	return report.Load(out)
}
