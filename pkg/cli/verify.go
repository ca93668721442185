package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/grid"
	"github.com/nnx-dev/nnx/pkg/progress"
	"github.com/nnx-dev/nnx/pkg/results"
	"github.com/nnx-dev/nnx/pkg/train"
)

// ReproError says a committed result did not reproduce.
type ReproError struct {
	Trials int // trials with differences
}

func (e *ReproError) Error() string {
	return fmt.Sprintf("%d trial(s) did not reproduce their committed results", e.Trials)
}

// verify retrains trials in memory and compares them with the committed
// results, writing nothing.
func verify(ctx context.Context, e *env, o *runOptions, l *config.Loaded, all []grid.Trial, store results.Store, d *data, device string, jobs int) error {
	trials := all
	if o.sample > 0 && o.sample < len(all) {
		// A deterministic sample: the trials whose ids sort first (ids are hashes).
		byID := slices.Clone(all)
		slices.SortFunc(byID, func(a, b grid.Trial) int { return strings.Compare(a.ID, b.ID) })
		trials = byID[:o.sample]
		slices.SortFunc(trials, func(a, b grid.Trial) int { return a.Index - b.Index })
	}
	disp := progress.New(e.stderr, e.terminal)
	defer disp.Close()
	bad, missing := 0, 0
	for _, t := range trials {
		state, committed, err := store.TrialState(l.Name, t.ID)
		if err != nil {
			return err
		}
		if state != results.Done && state != results.Failed {
			fmt.Fprintf(e.stdout, "trial %s (%s): not in %s (state %s): nothing to compare\n", t.ID, t.Label(), store.Dir, state)
			missing++
			continue
		}
		c := t.Config
		c.Device = device
		disp.StartTrial(t.Index+1, len(all), t.ID, t.Label(), c.Split.Folds, c.Train.Epochs)
		now := &results.Metrics{Status: results.StatusDone}
		res, err := train.Run(ctx, c, subset(d.train, d.test, c.Data), train.Options{Jobs: jobs, Progress: disp.Epoch})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			now.Status, now.Error = results.StatusFailed, err.Error()
		} else {
			now.Summarise(res)
		}
		diffs := results.Diff(committed, now, o.tolerance)
		if len(diffs) == 0 {
			disp.EndTrial("reproduced")
			continue
		}
		bad++
		disp.EndTrial(fmt.Sprintf("%d difference(s)", len(diffs)))
		fmt.Fprintf(e.stdout, "trial %s (%s): %d difference(s) beyond %g:\n", t.ID, t.Label(), len(diffs), o.tolerance)
		for _, d := range diffs {
			fmt.Fprintf(e.stdout, "  %s\n", d)
		}
	}
	fmt.Fprintf(e.stdout, "verified %d trial(s): %d reproduced, %d differ, %d not committed\n",
		len(trials), len(trials)-bad-missing, bad, missing)
	if bad > 0 || missing > 0 {
		return &ReproError{Trials: bad + missing}
	}
	return nil
}
