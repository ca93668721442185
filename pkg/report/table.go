package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/nnx-dev/nnx/pkg/results"
)

// Statuses of a trial that experiment.json lists but that has no
// metrics.json yet: only its id and grid index are known. Unfinished ones
// are being trained, or were interrupted and have checkpoints to resume
// from.
const (
	StatusNotRun     = "not run"
	StatusUnfinished = "unfinished"
)

// hasConfig reports whether a trial's metrics (and so its config) exist.
func hasConfig(m *results.Metrics) bool {
	return m.Status != StatusNotRun && m.Status != StatusUnfinished
}

// Column is one table column: a key (as a pipeline's report section names
// it), a header and how a trial fills it.
type Column struct {
	Key    string
	Header string
	Cell   func(m *results.Metrics) string
}

// Columns lists every column nnx can show, by key. A trial that is not
// done shows its status in the accuracy columns; one that has not run
// shows nothing in the columns that need its config.
func Columns() []Column {
	done := func(f func(m *results.Metrics) string) func(m *results.Metrics) string {
		return func(m *results.Metrics) string {
			if m.Status != results.StatusDone {
				return m.Status
			}
			return f(m)
		}
	}
	known := func(f func(m *results.Metrics) string) func(m *results.Metrics) string {
		return func(m *results.Metrics) string {
			if !hasConfig(m) {
				return ""
			}
			return f(m)
		}
	}
	return []Column{
		{"trial", "Trial", func(m *results.Metrics) string { return m.Trial }},
		{"label", "Parameters", known(func(m *results.Metrics) string { return m.Label })},
		{"epochs", "Epochs", known(func(m *results.Metrics) string { return fmt.Sprint(m.Config.Train.Epochs) })},
		{"learning_rate", "Learning rate", known(func(m *results.Metrics) string { return fmt.Sprint(m.Config.Train.LearningRate) })},
		{"batch_size", "Batch size", known(func(m *results.Metrics) string { return fmt.Sprint(m.Config.Train.BatchSize) })},
		{"optimizer", "Optimizer", known(func(m *results.Metrics) string { return m.Config.Train.Optimizer })},
		{"hidden", "Hidden Layer dimensions", known(func(m *results.Metrics) string {
			hidden := make([]string, len(m.Config.Model.Hidden))
			for i, h := range m.Config.Model.Hidden {
				hidden[i] = fmt.Sprint(h)
			}
			return strings.Join(hidden, " x ")
		})},
		{"folds", "KFolds", known(func(m *results.Metrics) string { return fmt.Sprint(m.Config.Split.Folds) })},
		{"train_accuracy", "Training Accuracy", done(func(m *results.Metrics) string { return Accuracy(m.TrainAccuracy) })},
		{"val_accuracy", "Validation Accuracy", done(func(m *results.Metrics) string { return Accuracy(m.ValAccuracy) })},
		{"test_accuracy", "Test Accuracy", done(func(m *results.Metrics) string { return Percent(m.TestAccuracy) })},
		{"time", "Running time", known(func(m *results.Metrics) string { return Duration(m.Seconds) })},
	}
}

// DefaultColumns are the seed README's columns for the kind of model the
// trials train (its MLP table, or its CNN table), with the cross-validated
// accuracy added. The hidden-layer column needs a trial with hidden widths:
// trials not run yet have no config to show.
func DefaultColumns(ms []*results.Metrics) []string {
	mlp := false
	for _, m := range ms {
		if len(m.Config.Model.Layers) > 0 {
			mlp = false
			break
		}
		mlp = mlp || len(m.Config.Model.Hidden) > 0
	}
	if mlp {
		return []string{"epochs", "learning_rate", "hidden", "folds", "train_accuracy", "val_accuracy", "test_accuracy", "time"}
	}
	return []string{"epochs", "learning_rate", "folds", "train_accuracy", "val_accuracy", "test_accuracy", "time"}
}

// Table renders the named columns for the trials: a header and one row per
// trial. An unknown key is an error that lists the valid ones.
func Table(keys []string, ms []*results.Metrics) (header []string, rows [][]string, err error) {
	byKey := map[string]Column{}
	var valid []string
	for _, c := range Columns() {
		byKey[c.Key] = c
		valid = append(valid, c.Key)
	}
	cols := make([]Column, len(keys))
	for i, k := range keys {
		c, ok := byKey[k]
		if !ok {
			return nil, nil, fmt.Errorf("unknown report column %q (valid: %s)", k, strings.Join(valid, ", "))
		}
		cols[i] = c
		header = append(header, c.Header)
	}
	for _, m := range ms {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = c.Cell(m)
		}
		rows = append(rows, row)
	}
	return header, rows, nil
}

// Percent writes a fraction as a percentage with two decimals: "97.31%".
func Percent(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

// Accuracy writes a fold statistic: "97.31% ± 0.12 (n=3)", the spread in
// percentage points; one fold drops the spread.
func Accuracy(s results.Stat) string {
	if s.N <= 1 {
		return Percent(s.Mean)
	}
	return fmt.Sprintf("%s ± %.2f (n=%d)", Percent(s.Mean), 100*s.Std, s.N)
}

// Duration writes a running time as the seed's README does: "2min 3s",
// "45s", "1h 2min 3s".
func Duration(sec float64) string {
	d := time.Duration(math.Round(sec)) * time.Second
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %dmin %ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dmin %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// Terminal writes a table for people at a terminal.
func Terminal(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignment(tw.AlignRight), tablewriter.WithHeaderAlignment(tw.AlignCenter))
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

// Markdown writes a GitHub markdown table in the seed README's shape: a
// "|A|B|" header, "| --- |" separators and "| a | b |" rows. A "|" in a
// cell is escaped and line breaks become spaces, so every row stays one
// line; the output depends on nothing but the cells.
func Markdown(w io.Writer, header []string, rows [][]string) error {
	var b strings.Builder
	b.WriteString("|")
	for _, h := range header {
		b.WriteString(mdCell(h) + "|")
	}
	b.WriteString("\n|")
	for range header {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("|")
		for _, c := range r {
			b.WriteString(" " + mdCell(c) + " |")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell makes s safe inside a markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "\r\n", " ")
	s = strings.NewReplacer("\n", " ", "\r", " ", "|", `\|`).Replace(s)
	return s
}
