package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats are the values of nnx report --format.
func Formats() []string { return []string{"md", "csv", "json"} }

// TableJSON is one experiment's table in --format json.
type TableJSON struct {
	Experiment string     `json:"experiment"`
	Title      string     `json:"title"`
	Keys       []string   `json:"keys"`    // column keys, as a report section names them
	Columns    []string   `json:"columns"` // column headers
	Trials     []string   `json:"trials"`  // each row's trial id
	Status     []string   `json:"status"`  // each row's status: done, failed or not run
	Rows       [][]string `json:"rows"`    // the cells, as the markdown table shows them
}

// WriteFormat writes every experiment's table to w as md (each under a
// "## title" heading, with its notes), csv (each preceded by a
// "# experiment NAME" line and followed by an empty line: read it with
// encoding/csv, Comment '#' and FieldsPerRecord -1) or json (an array of
// TableJSON).
func WriteFormat(w io.Writer, format string, exps []*Experiment) error {
	switch format {
	case "md":
		var b strings.Builder
		for i, e := range exps {
			sec, err := Section(e)
			if err != nil {
				return err
			}
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "## %s\n\n%s", e.Title(), sec)
		}
		_, err := io.WriteString(w, b.String())
		return err
	case "csv":
		var b strings.Builder
		for i, e := range exps {
			header, rows, err := e.Table()
			if err != nil {
				return err
			}
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "# experiment %s\n", e.Name)
			cw := csv.NewWriter(&b)
			if err := cw.Write(header); err != nil {
				return err
			}
			if err := cw.WriteAll(rows); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, b.String())
		return err
	case "json":
		tables := []TableJSON{}
		for _, e := range exps {
			header, rows, err := e.Table()
			if err != nil {
				return err
			}
			t := TableJSON{Experiment: e.Name, Title: e.Title(), Keys: e.Keys(), Columns: header, Rows: rows,
				Trials: []string{}, Status: []string{}}
			if t.Rows == nil {
				t.Rows = [][]string{}
			}
			for _, m := range e.Trials {
				t.Trials = append(t.Trials, m.Trial)
				t.Status = append(t.Status, m.Status)
			}
			tables = append(tables, t)
		}
		b, err := json.MarshalIndent(tables, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	return fmt.Errorf("unknown format %q (valid: %s)", format, strings.Join(Formats(), ", "))
}

// WriteTerminal writes every experiment's table for people at a terminal:
// its title, the table drawn by tablewriter, and its notes.
func WriteTerminal(w io.Writer, exps []*Experiment) error {
	for i, e := range exps {
		header, rows, err := e.Table()
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		if e.Title() == e.Name {
			fmt.Fprintf(w, "%s: %s\n", e.Name, counts(e))
		} else {
			fmt.Fprintf(w, "%s (%s): %s\n", e.Title(), e.Name, counts(e))
		}
		if err := Terminal(w, header, rows); err != nil {
			return err
		}
		if n := Notes(e); n != "" {
			fmt.Fprint(w, strings.ReplaceAll(n, "`", ""))
		}
	}
	return nil
}
