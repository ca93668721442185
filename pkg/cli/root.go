// Package cli is the nnx command line: one file per verb, each with its
// options struct and run function, and the mapping from errors to exit
// codes in one place.
//
// Output rules: results go to stdout; progress, warnings and errors go to
// stderr, each message prefixed "nnx: ", with "nnx: hint: " lines that say
// what to do next.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nnx-dev/nnx/pkg/config/strict"
	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/report"
)

// Version is nnx's version, recorded in results.
const Version = "0.1.0"

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1   // a trial or an I/O step failed
	exitUsage       = 2   // bad flags, arguments or configuration
	exitNoData      = 3   // the data could not be found
	exitInterrupted = 130 // stopped by Ctrl-C or SIGTERM
)

// maxDiffLines bounds the differences printed per conflicting trial.
const maxDiffLines = 10

// usageError marks errors in how nnx was called.
type usageError struct{ error }

// env is the process environment, injected for tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	terminal       bool // stderr is a terminal: draw live progress
}

// Main runs nnx with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, terminal: isTerminal(stderr)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	return exitCode(stderr, err)
}

// exitCode prints err the nnx way and maps it to an exit code.
func exitCode(w io.Writer, err error) int {
	var (
		re  *ReproError
		rpe *report.ReproducibilityError
		se  *strict.Error
		ses strict.Errors
		nf  *dataset.NotFoundError
		ue  usageError
	)
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "nnx: interrupted; finished trials are kept")
		return exitInterrupted
	case errors.As(err, &re):
		fmt.Fprintf(w, "nnx: error: %v\n", re)
		fmt.Fprintln(w, "nnx: hint: the differences are listed above; same YAML, seed and data should give the same numbers on a CPU")
		return exitFailure
	case errors.As(err, &rpe):
		for _, c := range rpe.Conflicts {
			fmt.Fprintf(w, "nnx: error: %s\n", c)
			for i, d := range c.Diffs {
				if i == maxDiffLines {
					fmt.Fprintf(w, "nnx:   ... and %d more\n", len(c.Diffs)-i)
					break
				}
				fmt.Fprintf(w, "nnx:   %s\n", d)
			}
		}
		fmt.Fprintf(w, "nnx: error: %v\n", rpe)
		fmt.Fprintln(w, "nnx: hint: a trial id fixes its config, data and BLAS, so its copies should be identical on a CPU; "+
			"check which copy reproduces (nnx run EXPERIMENT --verify --results DIR) and remove the other")
		return exitFailure
	case errors.As(err, &ses):
		for _, e := range ses {
			fmt.Fprintf(w, "nnx: error: %v\n", e)
		}
		return exitUsage
	case errors.As(err, &se):
		fmt.Fprintf(w, "nnx: error: %v\n", se)
		return exitUsage
	case errors.As(err, &nf):
		fmt.Fprintf(w, "nnx: error: %v\n", nf)
		return exitNoData
	case errors.As(err, &ue):
		fmt.Fprintf(w, "nnx: error: %v\n", ue.error)
		fmt.Fprintln(w, "nnx: hint: run 'nnx --help' for usage")
		return exitUsage
	}
	fmt.Fprintf(w, "nnx: error: %v\n", err)
	return exitFailure
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "nnx",
		Short:         "Train, report and serve neural networks from committed YAML",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCmd(e), newPlanCmd(e), newServeCmd(e))
	root.AddCommand(newReportCmd(e))
	root.AddCommand(newExportCmd(e))
	return root
}

// exactArgs is cobra.ExactArgs with errors that map to the usage exit code.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("expected %s, got %d argument(s)", what, len(args))}
		}
		return nil
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
