package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nnx-dev/nnx/pkg/bundle"
	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/engine"
	"github.com/nnx-dev/nnx/pkg/grid"
	"github.com/nnx-dev/nnx/pkg/model"
	"github.com/nnx-dev/nnx/pkg/progress"
	"github.com/nnx-dev/nnx/pkg/report"
	"github.com/nnx-dev/nnx/pkg/results"
	"github.com/nnx-dev/nnx/pkg/train"
)

// runOptions are nnx run's flags.
type runOptions struct {
	set       []string
	results   string
	jobs      int
	jobsSet   bool
	only      []string
	force     bool
	verify    bool
	sample    int
	tolerance float64
	shard     string
	cacheFrom []string
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
Trials already done are kept (--force retrains them); an interrupted trial
resumes from its last finished epoch; two runs on one directory share the
work (each trial is locked while it trains). --verify retrains and compares
with the results instead of writing them.

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
	c.Flags().BoolVar(&o.force, "force", false, "retrain trials that are already done, from scratch")
	c.Flags().StringVar(&o.shard, "shard", "", "run only shard I of N (I/N; or N, with I from $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID): trial k belongs to shard k mod N")
	c.Flags().BoolVar(&o.verify, "verify", false, "retrain in memory and compare with the results on disk; write nothing, exit 1 on a difference")
	c.Flags().IntVar(&o.sample, "verify-sample", 0, "with --verify: check only this many trials (a fixed sample)")
	c.Flags().Float64Var(&o.tolerance, "tolerance", 0, "with --verify: the largest difference allowed in any number")
	c.Flags().StringArrayVar(&o.cacheFrom, "cache-from", nil, "take trials done in this other results directory (a shard's, say) instead of training them: their files are copied in (repeatable)")
	c.Flags().StringSliceVar(&o.only, "only", nil, "run only these trials: numbers from nnx plan or trial ids (comma-separated)")
	return c
}

func runRun(ctx context.Context, e *env, o *runOptions, file string) error {
	l, err := config.Load(file, o.set, e.getenv)
	if err != nil {
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
	dev, err := selectDevice(e, l)
	if err != nil {
		return err
	}
	device := dev.Device
	if device == "cuda" {
		fmt.Fprintf(e.stderr, "nnx: training on %s (%s)\n", dev.Name, dev.Driver)
	}
	d, err := loadData(e, l)
	if err != nil {
		return err
	}
	all, err := grid.Expand(l)
	if err != nil {
		return err
	}
	trials, err := selectTrials(all, o.only)
	if err != nil {
		return err
	}
	sh, err := parseShard(firstNonEmpty(o.shard, e.getenv("NNX_SHARD")), e.getenv)
	if err != nil {
		return err
	}
	if trials = sh.filter(trials); sh != nil {
		fmt.Fprintf(e.stderr, "nnx: shard %s: %d of %d trial(s)\n", sh, len(trials), len(all))
	}
	dir := firstNonEmpty(o.results, e.getenv("NNX_RESULTS"), l.Outputs.Dir)
	store := results.Store{Dir: dir}
	if o.verify {
		return verify(ctx, e, o, l, all, store, d, device, jobs)
	}
	if err := store.WriteExperiment(experimentInfo(l, all)); err != nil {
		return err
	}

	disp := progress.New(e.stderr, e.terminal)
	var ran []*results.Metrics
	failed, busy := 0, 0
	runErr := func() error {
		defer disp.Close()
		for _, t := range trials {
			if !o.force {
				if err := takeCached(store, o.cacheFrom, l.Name, t, len(all), disp); err != nil {
					return err
				}
			}
			state, m, err := store.TrialState(l.Name, t.ID)
			if err != nil {
				return err
			}
			if state == results.Done && !o.force {
				disp.Note(fmt.Sprintf("trial %d/%d %s (%s): done earlier, kept (--force retrains)", t.Index+1, len(all), t.ID, t.Label()))
				ran = append(ran, m)
				continue
			}
			m, err = runTrial(ctx, store, l, t, len(all), dev, d, o.force, jobs, disp)
			var be *results.BusyError
			switch {
			case errors.As(err, &be):
				busy++
				disp.Note(fmt.Sprintf("trial %d/%d %s: %v; skipped", t.Index+1, len(all), t.ID, be))
				continue
			case err != nil:
				return err
			}
			if m.Status == results.StatusFailed {
				failed++
			}
			ran = append(ran, m)
		}
		return nil
	}()
	best, err := updateBest(store, l.Name, all)
	if err != nil {
		return err
	}
	if len(ran) > 0 {
		fmt.Fprintln(e.stdout)
		header, rows, err := report.Table(report.DefaultColumns(ran), ran)
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
	fmt.Fprintf(e.stderr, "nnx: %d of %d trial(s) finished, results in %s\n", len(ran), len(trials), filepath.Join(dir, l.Name))
	switch {
	case runErr != nil:
		return runErr
	case failed > 0:
		return fmt.Errorf("%d of %d trial(s) failed; their errors are in their metrics.json", failed, len(trials))
	case busy > 0:
		return fmt.Errorf("%d trial(s) were being trained by another nnx run; run again when it has finished", busy)
	}
	return nil
}

// data is the loaded dataset and its fingerprint.
type data struct {
	train, test *dataset.Set
}

// loadData finds and loads the experiment's data and records its
// fingerprint in l, which makes it part of every trial id.
func loadData(e *env, l *config.Loaded) (*data, error) {
	dir, err := dataset.Locate(dataPath(l), e.getenv)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	tr, te, err := dataset.LoadMNIST(dir, 0, 0)
	if err != nil {
		return nil, err
	}
	l.DataFingerprint = fingerprint(tr, te)
	fmt.Fprintf(e.stderr, "nnx: loaded MNIST from %s (%d training, %d test images, fingerprint %s) in %s\n",
		dir, tr.Len(), te.Len(), l.DataFingerprint, time.Since(t0).Round(time.Millisecond))
	return &data{train: tr, test: te}, nil
}

// selectDevice picks the experiment's device for this process and names
// the engine that will multiply (part of every trial id): cuBLAS on a GPU,
// else the build's BLAS.
func selectDevice(e *env, l *config.Loaded) (engine.DeviceInfo, error) {
	dev, note, err := train.Device(l.Base.Device)
	if err != nil {
		return dev, err
	}
	if note != "" {
		fmt.Fprintln(e.stderr, "nnx: "+note)
	}
	l.Engine = engine.BLAS
	if dev.Device == "cuda" {
		l.Engine = "cublas"
	}
	return dev, nil
}

// fingerprint identifies a training and test set together.
func fingerprint(tr, te *dataset.Set) string {
	h := sha256.Sum256([]byte(tr.Fingerprint() + te.Fingerprint()))
	return hex.EncodeToString(h[:8])
}

// experimentInfo is experiment.json for the full grid.
func experimentInfo(l *config.Loaded, all []grid.Trial) *results.Experiment {
	info := &results.Experiment{Name: l.Name, File: filepath.ToSlash(l.File), Pipeline: filepath.ToSlash(l.PipelineFile), Report: l.Report}
	for _, a := range l.Axes {
		if !slices.Contains(info.Axes, a.Path) {
			info.Axes = append(info.Axes, a.Path)
		}
	}
	for _, t := range all {
		info.Trials = append(info.Trials, t.ID)
		info.Grid = append(info.Grid, results.GridTrial{ID: t.ID, Label: t.Label(), Params: t.Params, Config: t.Config})
	}
	return info
}

// runTrial trains one trial under its lock, resuming from its checkpoints,
// and stores its files. A training error is recorded in its metrics (status
// failed); only interruption and I/O errors are returned.
func runTrial(ctx context.Context, store results.Store, l *config.Loaded, t grid.Trial, total int, dev engine.DeviceInfo,
	d *data, force bool, jobs int, disp progress.Display) (*results.Metrics, error) {
	unlock, err := store.Lock(l.Name, t.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if state, m, err := store.TrialState(l.Name, t.ID); err != nil {
		return nil, err
	} else if state == results.Done && !force {
		return m, nil // another process finished it while we waited
	}
	ck := store.Checkpoints(l.Name, t.ID)
	if force {
		if err := ck.Clear(); err != nil {
			return nil, err
		}
	}
	c := t.Config
	c.Device = dev.Device
	sub := subset(d.train, d.test, c.Data)
	m := &results.Metrics{Experiment: l.Name, Trial: t.ID, Index: t.Index, Label: t.Label(), Params: t.Params,
		Config: t.Config, Device: dev.Device, DeviceName: dev.Name, Driver: dev.Driver,
		DataFingerprint: l.DataFingerprint, Engine: l.Engine}
	disp.StartTrial(t.Index+1, total, t.ID, t.Label(), c.Split.Folds, c.Train.Epochs)
	res, err := train.Run(ctx, c, sub, train.Options{Jobs: jobs, Progress: disp.Epoch, Checkpoints: ck})
	if errors.Is(err, context.Canceled) {
		return nil, err
	}
	var weights []byte
	if err == nil {
		weights, err = bundle.EncodeSafetensors(res.Weights)
	}
	if err != nil {
		m.Status, m.Error = results.StatusFailed, err.Error()
		disp.EndTrial(fmt.Sprintf("failed: %v", err))
	} else {
		m.Summarise(res)
		for _, f := range res.Folds {
			m.Seconds += f.Seconds
		}
		if jobs > 1 {
			m.Seconds /= float64(min(jobs, len(res.Folds)))
		}
		disp.EndTrial(fmt.Sprintf("done: val %s, test %s, %s",
			report.Accuracy(m.ValAccuracy), report.Percent(m.TestAccuracy), report.Duration(m.Seconds)))
		if err := results.WriteFile(filepath.Join(store.TrialDir(l.Name, t.ID), results.WeightsFile), weights); err != nil {
			return nil, err
		}
	}
	if err := store.WriteTrial(t, m); err != nil {
		return nil, err
	}
	return m, ck.Clear()
}

// updateBest rewrites RESULTS/<experiment>/best from the best finished
// trial of the grid on disk, whichever process trained it, then RESULTS/best
// from every experiment's best. Both happen under the results directory's
// lock: concurrent runs (shards) must not rewrite a bundle another is
// copying.
func updateBest(store results.Store, experiment string, all []grid.Trial) (best *results.Metrics, err error) {
	err = store.Exclusive("", func() error {
		if best, err = pickBest(store, experiment, all); err != nil {
			return err
		}
		return updateOverallBest(store)
	})
	return best, err
}

func pickBest(store results.Store, experiment string, all []grid.Trial) (*results.Metrics, error) {
	var best *results.Metrics
	var bestTrial grid.Trial
	for _, t := range all {
		state, m, err := store.TrialState(experiment, t.ID)
		if err != nil {
			return nil, err
		}
		if state == results.Done && (best == nil || results.Better(m, best)) {
			best, bestTrial = m, t
		}
	}
	if best == nil {
		return nil, nil
	}
	w, err := bundle.ReadWeights(filepath.Join(store.TrialDir(experiment, best.Trial), results.WeightsFile))
	if err != nil {
		return nil, err
	}
	return best, writeBest(store, bestTrial, best, w)
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

// writeBest replaces RESULTS/<experiment>/best with the best trial's
// bundle (manifest, weights, trial.yaml, metrics.json), swapped in whole.
func writeBest(store results.Store, t grid.Trial, m *results.Metrics, weights []model.Tensor) error {
	spec, err := t.Config.Spec()
	if err != nil {
		return err
	}
	b := bundle.New(spec, weights)
	cfg, err := json.Marshal(t.Config)
	if err != nil {
		return err
	}
	b.Manifest.NNXVersion, b.Manifest.Name = Version, m.Experiment
	b.Manifest.Experiment, b.Manifest.Trial = m.Experiment, m.Trial
	b.Manifest.Config, b.Manifest.DataFingerprint = cfg, m.DataFingerprint
	b.Manifest.Metrics = bundle.Metrics{
		ValAccuracy:  bundle.Stat{Mean: m.ValAccuracy.Mean, Std: m.ValAccuracy.Std, N: m.ValAccuracy.N},
		TestAccuracy: m.TestAccuracy,
	}
	trialYAML, err := results.TrialYAML(t)
	if err != nil {
		return err
	}
	js, err := results.MarshalJSON(m)
	if err != nil {
		return err
	}
	return bundle.Write(filepath.Join(store.Dir, m.Experiment, results.BestDir), b,
		map[string][]byte{results.TrialFile: trialYAML, results.MetricsFile: js})
}

// updateOverallBest points RESULTS/best at the best of the experiments'
// best bundles: the highest mean validation accuracy, ties to the
// experiment name that sorts first. It is a copy, so it survives the
// experiment's own best/ being rewritten. The caller holds the results
// directory's lock.
func updateOverallBest(store results.Store) error {
	entries, err := os.ReadDir(store.Dir)
	if err != nil {
		return err
	}
	var best *bundle.Bundle
	var bestDir string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == results.BestDir || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(store.Dir, e.Name(), results.BestDir)
		b, err := bundle.Load(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if best == nil || b.Manifest.Metrics.ValAccuracy.Mean > best.Manifest.Metrics.ValAccuracy.Mean {
			best, bestDir = b, dir
		}
	}
	if best == nil {
		return nil
	}
	return bundle.Copy(bestDir, filepath.Join(store.Dir, results.BestDir))
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
