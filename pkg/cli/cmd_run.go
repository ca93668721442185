package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nnx-dev/nnx/pkg/bundle"
	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/grid"
	"github.com/nnx-dev/nnx/pkg/model"
	"github.com/nnx-dev/nnx/pkg/progress"
	"github.com/nnx-dev/nnx/pkg/report"
	"github.com/nnx-dev/nnx/pkg/results"
	"github.com/nnx-dev/nnx/pkg/train"
)

// runOptions are nnx run's flags.
type runOptions struct {
	set     []string
	results string
	jobs    int
	jobsSet bool
	only    []string
}

func newRunCmd(e *env) *cobra.Command {
	o := &runOptions{}
	c := &cobra.Command{
		Use:   "run EXPERIMENT.yaml",
		Short: "Train every trial of an experiment's grid with k-fold cross-validation",
		Long: `Train every trial of an experiment's grid with k-fold cross-validation and
write each trial's resolved config and metrics under the results directory:
  RESULTS/<experiment>/<trial-id>/trial.yaml, metrics.json
  RESULTS/<experiment>/best/   the best trial (highest mean validation
                               accuracy) with its best fold's weights

` + config.Precedence,
		Args: exactArgs(1, "one experiment file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.jobsSet = cmd.Flags().Changed("jobs")
			return runRun(cmd.Context(), e, o, args[0])
		},
	}
	c.Flags().StringArrayVar(&o.set, "set", nil, "override a field: key=value (repeatable)")
	c.Flags().StringVar(&o.results, "results", "", "results directory (env NNX_RESULTS; default: the pipeline's outputs.dir)")
	c.Flags().IntVarP(&o.jobs, "jobs", "j", 1, "folds trained side by side; results do not depend on it (env NNX_JOBS)")
	c.Flags().StringSliceVar(&o.only, "only", nil, "run only these trials: numbers from nnx plan or trial ids (comma-separated)")
	return c
}

func runRun(ctx context.Context, e *env, o *runOptions, file string) error {
	l, err := config.Load(file, o.set, e.getenv)
	if err != nil {
		return err
	}
	trials, err := grid.Expand(l)
	if err != nil {
		return err
	}
	total := len(trials)
	if trials, err = selectTrials(trials, o.only); err != nil {
		return err
	}
	jobs := o.jobs
	if v := e.getenv("NNX_JOBS"); v != "" && !o.jobsSet {
		if jobs, err = strconv.Atoi(v); err != nil || jobs < 1 {
			return usageError{fmt.Errorf("$NNX_JOBS: want a whole number >= 1, got %q", v)}
		}
	}
	if jobs < 1 {
		return usageError{fmt.Errorf("--jobs: want a whole number >= 1, got %d", jobs)}
	}
	dir := firstNonEmpty(o.results, e.getenv("NNX_RESULTS"), l.Outputs.Dir)
	store := results.Store{Dir: dir}

	device, note, err := train.Device(l.Base.Device)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(e.stderr, "nnx: "+note)
	}

	dataDir, err := dataset.Locate(dataPath(l), e.getenv)
	if err != nil {
		return err
	}
	t0 := time.Now()
	train0, test0, err := dataset.LoadMNIST(dataDir, 0, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "nnx: loaded MNIST from %s (%d training, %d test images) in %s\n",
		dataDir, train0.Len(), test0.Len(), time.Since(t0).Round(time.Millisecond))

	disp := progress.New(e.stderr, e.terminal)
	var done []*results.Metrics
	var best *results.Metrics
	var bestWeights []model.Tensor
	var bestTrial grid.Trial
	failed := 0
	runErr := func() error {
		defer disp.Close()
		for _, t := range trials {
			c := t.Config
			c.Device = device
			data := subset(train0, test0, c.Data)
			m := &results.Metrics{Experiment: l.Name, Trial: t.ID, Index: t.Index, Label: t.Label(), Params: t.Params,
				Config: t.Config, Device: device, DataFingerprint: data.Train.Fingerprint()[:16]}
			disp.StartTrial(t.Index+1, total, t.ID, t.Label(), c.Split.Folds, c.Train.Epochs)
			start := time.Now()
			res, err := train.Run(ctx, c, data, jobs, disp.Epoch)
			m.Seconds = time.Since(start).Seconds()
			if errors.Is(err, context.Canceled) {
				return err
			}
			if err != nil {
				failed++
				m.Status, m.Error = results.StatusFailed, err.Error()
				disp.EndTrial(fmt.Sprintf("failed: %v", err))
			} else {
				m.Summarise(res)
				disp.EndTrial(fmt.Sprintf("done: val %s, test %s, %s",
					report.Accuracy(m.ValAccuracy), report.Percent(m.TestAccuracy), report.Duration(m.Seconds)))
				if best == nil || results.Better(m, best) {
					best, bestWeights, bestTrial = m, res.Weights, t
				}
			}
			if err := store.WriteTrial(t, m); err != nil {
				return err
			}
			done = append(done, m)
		}
		return nil
	}()
	if best != nil {
		if err := writeBest(store, bestTrial, best, bestWeights); err != nil {
			return err
		}
	}
	if len(done) > 0 {
		fmt.Fprintln(e.stdout)
		header, rows, err := report.Table(report.DefaultColumns(done), done)
		if err != nil {
			return err
		}
		if err := report.Terminal(e.stdout, header, rows); err != nil {
			return err
		}
	}
	if best != nil {
		fmt.Fprintf(e.stdout, "best: trial %s (%s), validation %s, test %s -> %s\n", best.Trial, best.Label,
			report.Accuracy(best.ValAccuracy), report.Percent(best.TestAccuracy),
			filepath.Join(dir, l.Name, results.BestDir))
	}
	fmt.Fprintf(e.stderr, "nnx: %d of %d trial(s) finished, results in %s\n", len(done), len(trials), filepath.Join(dir, l.Name))
	if runErr != nil {
		return runErr
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d trial(s) failed; their errors are in their metrics.json", failed, len(trials))
	}
	return nil
}

// dataPath resolves data.path: relative to the file that set it, or to the
// working directory when a flag or environment variable did.
func dataPath(l *config.Loaded) string {
	p := l.Base.Data.Path
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if pos, ok := l.Pos.Lookup("data.path"); ok && strings.HasSuffix(pos.File, ".yaml") {
		return filepath.Join(filepath.Dir(pos.File), p)
	}
	return p
}

// subset applies data.limit and data.test_limit (first N images).
func subset(tr, te *dataset.Set, d config.Data) train.Data {
	return train.Data{Train: head(tr, d.Limit), Test: head(te, d.TestLimit)}
}

func head(s *dataset.Set, n int) *dataset.Set {
	if n <= 0 || n >= s.Len() {
		return s
	}
	f := s.Features()
	return &dataset.Set{Rows: s.Rows, Cols: s.Cols, Classes: s.Classes, X: s.X[:n*f], Y: s.Y[:n]}
}

// writeBest replaces RESULTS/<experiment>/best with the best trial's files:
// built in a temporary directory, then swapped in by rename.
func writeBest(store results.Store, t grid.Trial, m *results.Metrics, weights []model.Tensor) error {
	expDir := filepath.Join(store.Dir, m.Experiment)
	tmp, err := os.MkdirTemp(expDir, ".best-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	w, err := bundle.EncodeSafetensors(weights)
	if err != nil {
		return err
	}
	cfg, err := results.TrialYAML(t)
	if err != nil {
		return err
	}
	js, err := results.MarshalJSON(m)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{bundle.WeightsFile: w, results.TrialFile: cfg, results.MetricsFile: js} {
		if err := results.WriteFile(filepath.Join(tmp, name), data); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	final := filepath.Join(expDir, results.BestDir)
	old := tmp + ".old"
	if err := os.Rename(final, old); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// selectTrials keeps the trials --only names, by number (from 1, as nnx
// plan prints them) or id, in grid order.
func selectTrials(trials []grid.Trial, only []string) ([]grid.Trial, error) {
	if len(only) == 0 {
		return trials, nil
	}
	keep := map[int]bool{}
	for _, o := range only {
		o = strings.TrimSpace(o)
		found := false
		for _, t := range trials {
			if o == t.ID || o == strconv.Itoa(t.Index+1) {
				keep[t.Index], found = true, true
			}
		}
		if !found {
			return nil, usageError{fmt.Errorf("--only %s: no such trial (nnx plan lists numbers 1-%d and ids)", o, len(trials))}
		}
	}
	var out []grid.Trial
	for _, t := range trials {
		if keep[t.Index] {
			out = append(out, t)
		}
	}
	return out, nil
}
