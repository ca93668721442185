// Package report turns stored results into tables a README shows.
package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/nnx-dev/nnx/pkg/results"
)

// MLPColumns are the seed README's MLP table columns, with the
// cross-validated accuracy added.
func MLPColumns() []string {
	return []string{"Epochs", "Learning rate", "Hidden Layer dimensions", "KFolds",
		"Training Accuracy", "Validation Accuracy", "Test Accuracy", "Running time"}
}

// Rows renders one row per trial in MLPColumns order.
func Rows(ms []*results.Metrics) [][]string {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		c := m.Config
		hidden := make([]string, len(c.Model.Hidden))
		for i, h := range c.Model.Hidden {
			hidden[i] = fmt.Sprint(h)
		}
		row := []string{fmt.Sprint(c.Train.Epochs), fmt.Sprint(c.Train.LearningRate), strings.Join(hidden, " x "),
			fmt.Sprint(c.Split.Folds)}
		if m.Status != results.StatusDone {
			row = append(row, m.Status, m.Status, m.Status, Duration(m.Seconds))
		} else {
			row = append(row, Accuracy(m.TrainAccuracy), Accuracy(m.ValAccuracy), Percent(m.TestAccuracy), Duration(m.Seconds))
		}
		rows = append(rows, row)
	}
	return rows
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

// Markdown writes a GitHub markdown table.
func Markdown(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewTable(w, tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off))
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}
