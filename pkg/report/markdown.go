package report

import (
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nnx-dev/nnx/pkg/results"
)

// maxErrorText bounds a failed trial's error in a note.
const maxErrorText = 200

// Section is an experiment's markdown table followed by its notes (failed
// and unfinished trials): what results/README.md, --format md and
// --inject show.
func Section(e *Experiment) (string, error) { return section(e, true) }

// section is Section, with or without the note on stale trials.
func section(e *Experiment, stale bool) (string, error) {
	header, rows, err := e.Table()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := Markdown(&b, header, rows); err != nil {
		return "", err
	}
	if n := notes(e, stale); n != "" {
		b.WriteString("\n" + n)
	}
	return b.String(), nil
}

// Notes lists, as a markdown list, the trials a table marks: each failed
// one with its error, the ones not run yet with the command that runs
// them, and stale trial directories the table leaves out. Empty when there
// are none.
func Notes(e *Experiment) string { return notes(e, true) }

func notes(e *Experiment, stale bool) string {
	var b strings.Builder
	for _, m := range e.Trials {
		if m.Status == results.StatusFailed {
			fmt.Fprintf(&b, "- failed: %s: %s\n", describe(m), oneLine(m.Error))
		}
	}
	for _, status := range []string{StatusUnfinished, StatusNotRun} {
		var ids, numbers []string
		for _, m := range e.Trials {
			if m.Status == status {
				ids = append(ids, "`"+m.Trial+"`")
				numbers = append(numbers, strconv.Itoa(m.Index+1))
			}
		}
		if len(ids) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- %s: %s", status, strings.Join(ids, ", "))
		if f := relFile(e.Info.File); f != "" {
			fmt.Fprintf(&b, " (`nnx run %s --only %s`)", f, strings.Join(numbers, ","))
		}
		b.WriteString("\n")
	}
	if stale && len(e.Stale) > 0 {
		fmt.Fprintf(&b, "- not shown, from an earlier grid: `%s`\n", strings.Join(e.Stale, "`, `"))
	}
	return b.String()
}

// oneLine makes an error message fit a list item.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "no error recorded"
	}
	if r := []rune(s); len(r) > maxErrorText {
		s = string(r[:maxErrorText]) + "…"
	}
	return strings.ReplaceAll(s, "`", "'")
}

// relFile is a file path from experiment.json fit to show: slash-separated
// and relative; "" for an absolute one (host-specific).
func relFile(f string) string {
	f = filepath.ToSlash(f)
	if f == "" || path.IsAbs(f) || filepath.IsAbs(f) {
		return ""
	}
	return f
}

// counts writes "10 trials: 8 done, 1 failed, 1 not run".
func counts(e *Experiment) string {
	parts := []string{}
	for _, s := range []string{results.StatusDone, results.StatusFailed, StatusUnfinished, StatusNotRun} {
		if n := e.Count(s); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	noun := "trials"
	if len(e.Trials) == 1 {
		noun = "trial"
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d %s", len(e.Trials), noun)
	}
	return fmt.Sprintf("%d %s: %s", len(e.Trials), noun, strings.Join(parts, ", "))
}

// bestLine names the best trial and links its bundle; base is the path
// from the markdown file to the experiment's directory ("" or ending in
// "/").
func bestLine(e *Experiment, base string) string {
	best := e.Best()
	if best == nil {
		return ""
	}
	s := fmt.Sprintf("Best trial by mean validation accuracy: %s, validation %s, test %s",
		describe(best), Accuracy(best.ValAccuracy), Percent(best.TestAccuracy))
	if e.HasBest {
		s += fmt.Sprintf("; its bundle: [%s/](%s%s/)", results.BestDir, base, results.BestDir)
	}
	return s + "."
}

// ExperimentPage renders RESULTS/<experiment>/README.md: the title, the
// table and its notes, the best trial, the plots (plots maps the file
// names that exist inside PlotsDir) and every trial with its curves and
// files.
func ExperimentPage(e *Experiment, plots map[string][]byte) ([]byte, error) {
	sec, err := Section(e)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", e.Title())
	b.WriteString("Written by `nnx report` from this directory's files; do not edit.")
	if f := relFile(e.Info.File); f != "" {
		fmt.Fprintf(&b, " Experiment `%s`", f)
		if p := relFile(e.Info.Pipeline); p != "" {
			fmt.Fprintf(&b, ", pipeline `%s`", p)
		}
		b.WriteString(".")
	}
	fmt.Fprintf(&b, " %s.\n\n", counts(e))
	b.WriteString(sec)
	if l := bestLine(e, ""); l != "" {
		b.WriteString("\n" + l + "\n")
	}
	img := func(alt, name string) {
		if _, ok := plots[name]; ok {
			fmt.Fprintf(&b, "![%s](%s/%s)\n", alt, PlotsDir, name)
		}
	}
	var axisPlots []string
	for _, a := range e.Info.Axes {
		if _, ok := plots[axisFile(a)]; ok {
			axisPlots = append(axisPlots, a)
		}
	}
	if len(axisPlots) > 0 {
		b.WriteString("\n## Test accuracy by hyperparameter\n\n")
		for _, a := range axisPlots {
			img("Test accuracy against "+a, axisFile(a))
		}
	}
	if best := e.Best(); best != nil {
		if _, ok := plots[confusionFile(best.Trial)]; ok {
			fmt.Fprintf(&b, "\n## Confusion matrix of the best trial\n\nOn the test set, the best fold's model of %s.\n\n", trialName(best))
			img("Confusion matrix of "+trialName(best), confusionFile(best.Trial))
		}
	}
	b.WriteString("\n## Trials\n")
	for i, m := range e.Trials {
		fmt.Fprintf(&b, "\n### %d. %s\n\n", i+1, trialHeading(m))
		switch m.Status {
		case results.StatusDone:
			fmt.Fprintf(&b, "Trial `%s`: training %s, validation %s, test %s, %s.",
				m.Trial, Accuracy(m.TrainAccuracy), Accuracy(m.ValAccuracy), Percent(m.TestAccuracy), Duration(m.Seconds))
		case StatusNotRun, StatusUnfinished:
			fmt.Fprintf(&b, "Trial `%s`: %s.\n", m.Trial, m.Status)
			continue
		default:
			fmt.Fprintf(&b, "Trial `%s`: %s after %s: %s.", m.Trial, m.Status, Duration(m.Seconds), oneLine(m.Error))
		}
		fmt.Fprintf(&b, " Files: [%s](%s/%s), [%s](%s/%s).\n",
			results.TrialFile, m.Trial, results.TrialFile, results.MetricsFile, m.Trial, results.MetricsFile)
		if _, ok := plots[learningFile(m.Trial)]; ok {
			b.WriteString("\n")
			img("Accuracy per epoch of "+trialHeading(m), learningFile(m.Trial))
			img("Loss per epoch of "+trialHeading(m), lossFile(m.Trial))
		}
	}
	return []byte(b.String()), nil
}

// trialHeading names a trial in a heading: its swept values, else its id.
func trialHeading(m *results.Metrics) string {
	if !hasConfig(m) || m.Label == "" || m.Label == "base" {
		return "Trial " + m.Trial
	}
	return m.Label
}

// describe names a trial in text: its swept values and id, or its id.
func describe(m *results.Metrics) string {
	if !hasConfig(m) || m.Label == "" || m.Label == "base" {
		return "trial `" + m.Trial + "`"
	}
	return m.Label + " (`" + m.Trial + "`)"
}

// Index renders RESULTS/README.md: one section per experiment with its
// table, notes, best trial and a link to its page.
func Index(exps []*Experiment) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Results\n\n")
	b.WriteString("Written by `nnx report` from the files in this directory; do not edit. " +
		"Training and validation accuracies are the mean ± standard deviation over the cross-validation folds (n folds) " +
		"of each fold's final model; the test accuracy is the best fold's model on the official test set.\n")
	for _, e := range exps {
		sec, err := Section(e)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", e.Title(), sec)
		if l := bestLine(e, e.Name+"/"); l != "" {
			b.WriteString(l + "\n\n")
		}
		fmt.Fprintf(&b, "Plots and every trial: [%s/%s](%s/%s).\n", e.Name, ReadmeFile, e.Name, ReadmeFile)
	}
	return []byte(b.String()), nil
}

// Block is what --inject puts between an experiment's markers: its table
// and notes (less the housekeeping one on stale trials), a link to its
// page and the best trial's learning curve. rel is the path from the
// markdown file's directory to the results directory, slash-separated.
func Block(e *Experiment, rel string) (string, error) {
	sec, err := section(e, false)
	if err != nil {
		return "", err
	}
	base := path.Join(rel, e.Name) + "/"
	var b strings.Builder
	b.WriteString(sec)
	if l := bestLine(e, base); l != "" {
		b.WriteString("\n" + l + "\n")
	}
	fmt.Fprintf(&b, "\nPlots and every trial: [%s/%s](%s%s).\n", e.Name, ReadmeFile, base, ReadmeFile)
	if best := e.Best(); best != nil && hasCurves(best) {
		fmt.Fprintf(&b, "\n![Accuracy per epoch of the best trial, %s](%s%s/%s)\n",
			trialName(best), base, PlotsDir, learningFile(best.Trial))
	}
	return b.String(), nil
}
