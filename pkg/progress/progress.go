// Package progress shows a sweep as it trains: live bars on a terminal
// (trial k of n, fold, epoch, current accuracy, time left), or one plain
// line per epoch when the output is a file or a pipe.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/nnx-dev/nnx/pkg/train"
)

// Display receives a sweep's events. Its methods are called from one
// goroutine.
type Display interface {
	// StartTrial announces trial i (from 1) of n.
	StartTrial(i, n int, id, label string, folds, epochs int)
	// Epoch reports a finished epoch of the current trial.
	Epoch(e train.Event)
	// EndTrial reports the trial's outcome in one line.
	EndTrial(summary string)
	// Note prints a line of its own, e.g. a trial skipped.
	Note(line string)
	// Close flushes the display.
	Close()
}

// New returns live bars when terminal is true, plain lines otherwise.
func New(w io.Writer, terminal bool) Display {
	if terminal {
		return newBars(w)
	}
	return &lines{w: w}
}

// lines prints one line per epoch.
type lines struct {
	w           io.Writer
	i, n        int
	label       string
	start       time.Time
	done, total int
}

func (l *lines) StartTrial(i, n int, id, label string, folds, epochs int) {
	l.i, l.n, l.label = i, n, label
	l.start, l.done, l.total = time.Now(), 0, folds*epochs
	fmt.Fprintf(l.w, "trial %d/%d %s (%s): %d fold(s) x %d epoch(s)\n", i, n, id, label, folds, epochs)
}

func (l *lines) Epoch(e train.Event) {
	l.done++
	from := ""
	if e.Restored {
		from = ", from checkpoint"
	}
	left := time.Duration(float64(time.Since(l.start)) / float64(l.done) * float64(l.total-l.done))
	fmt.Fprintf(l.w, "trial %d/%d fold %d/%d epoch %d/%d: loss %.4f train %.2f%% val %.2f%% (%.1fs, %s left%s)\n",
		l.i, l.n, e.Fold+1, e.Folds, e.Epoch, e.Epochs, e.Metrics.TrainLoss,
		100*e.Metrics.TrainAccuracy, 100*e.Metrics.ValAccuracy, e.Metrics.Seconds, left.Round(time.Second), from)
}

func (l *lines) EndTrial(summary string) { fmt.Fprintf(l.w, "trial %d/%d %s\n", l.i, l.n, summary) }

func (l *lines) Note(line string) { fmt.Fprintln(l.w, line) }

func (l *lines) Close() {}

// bars draws a sweep bar and a bar for the running trial.
type bars struct {
	p     *mpb.Progress
	sweep *mpb.Bar
	trial *mpb.Bar
	mu    sync.Mutex
	state string
	i, n  int
	t0    time.Time
}

func newBars(w io.Writer) *bars {
	return &bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(200*time.Millisecond))}
}

func (b *bars) status() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *bars) StartTrial(i, n int, id, label string, folds, epochs int) {
	b.i, b.n = i, n
	if b.sweep == nil {
		b.sweep = b.p.AddBar(int64(n), mpb.BarPriority(1<<30),
			mpb.PrependDecorators(decor.Name("sweep ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d trials", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO)))
	}
	b.mu.Lock()
	b.state = "starting"
	b.mu.Unlock()
	b.t0 = time.Now()
	b.trial = b.p.AddBar(int64(folds*epochs), mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("trial %d/%d %s", i, n, label), decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string { return b.status() }),
			decor.Name("  "),
			decor.AverageETA(decor.ET_STYLE_GO, decor.WC{W: 6}),
			decor.Name(" left")))
}

func (b *bars) Epoch(e train.Event) {
	b.mu.Lock()
	b.state = fmt.Sprintf("fold %d/%d epoch %d/%d val %.2f%%", e.Fold+1, e.Folds, e.Epoch, e.Epochs, 100*e.Metrics.ValAccuracy)
	b.mu.Unlock()
	if e.Restored {
		b.trial.Increment()
		return
	}
	b.trial.EwmaIncrement(time.Duration(e.Metrics.Seconds * float64(time.Second)))
}

func (b *bars) Note(line string) { fmt.Fprintln(b.p, line) }

func (b *bars) EndTrial(summary string) {
	fmt.Fprintf(b.p, "trial %d/%d %s\n", b.i, b.n, summary)
	b.trial.SetTotal(-1, true)
	b.sweep.Increment()
}

func (b *bars) Close() {
	if b.trial != nil && !b.trial.Completed() {
		b.trial.Abort(true)
	}
	if b.sweep != nil && !b.sweep.Completed() {
		b.sweep.Abort(false)
	}
	b.p.Wait()
}
