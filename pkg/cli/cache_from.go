package cli

import (
	"errors"
	"fmt"

	"github.com/nnx-dev/nnx/pkg/grid"
	"github.com/nnx-dev/nnx/pkg/progress"
	"github.com/nnx-dev/nnx/pkg/report"
	"github.com/nnx-dev/nnx/pkg/results"
)

// takeCached copies a trial that is not done in store from the first of
// the --cache-from directories where it is done. The same id means the same
// config, data and BLAS, so its numbers are the ones training would give.
// A trial another process holds in store is left to it.
func takeCached(store results.Store, dirs []string, experiment string, t grid.Trial, total int, disp progress.Display) error {
	if len(dirs) == 0 {
		return nil
	}
	if st, _, err := store.TrialState(experiment, t.ID); err != nil || st == results.Done {
		return err
	}
	for _, d := range dirs {
		src := results.Store{Dir: d}
		st, _, err := src.TrialState(experiment, t.ID)
		if err != nil {
			return err
		}
		if st != results.Done {
			continue
		}
		copied, err := report.CopyTrial(store, src, experiment, t.ID)
		var be *results.BusyError
		if errors.As(err, &be) {
			return nil
		}
		if err != nil {
			return err
		}
		if copied {
			disp.Note(fmt.Sprintf("trial %d/%d %s (%s): done in %s, copied", t.Index+1, total, t.ID, t.Label(), d))
		}
		return nil
	}
	return nil
}
