// Package train runs one trial: k-fold cross-validation of a model on a
// dataset, epoch by epoch, and the test-set evaluation of every fold's
// model. Every random draw comes from the trial's seed.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/nnx-dev/nnx/pkg/config"
	"github.com/nnx-dev/nnx/pkg/dataset"
	"github.com/nnx-dev/nnx/pkg/engine"
	"github.com/nnx-dev/nnx/pkg/model"
)

// Random streams drawn from the seed: the fold permutation is shared by all
// trials of a seed, so they are compared on the same splits; each fold's
// initial weights and shuffles have their own stream.
const (
	streamFolds   = 0x666f6c6473 // "folds"
	streamInit    = 1 << 32
	streamShuffle = 2 << 32
)

// Epoch holds one epoch's metrics of one fold.
type Epoch struct {
	Epoch         int     `json:"epoch"`
	TrainLoss     float64 `json:"train_loss"`     // mean over the epoch's steps
	TrainAccuracy float64 `json:"train_accuracy"` // over the epoch's steps, each batch before its update
	ValLoss       float64 `json:"val_loss"`
	ValAccuracy   float64 `json:"val_accuracy"`
	Seconds       float64 `json:"seconds"`
}

// Fold is one fold's history and final scores.
type Fold struct {
	Fold          int     `json:"fold"`
	TrainSize     int     `json:"train_size"`
	ValSize       int     `json:"val_size"`
	Epochs        []Epoch `json:"epochs"`
	BestEpoch     int     `json:"best_epoch"`     // the epoch whose model the fold keeps: the last, or early stopping's best
	TrainAccuracy float64 `json:"train_accuracy"` // the kept epoch's
	ValAccuracy   float64 `json:"val_accuracy"`   // the kept epoch's
	Test          Eval    `json:"test"`           // this fold's final model on the test set
	Seconds       float64 `json:"seconds"`
	weights       []model.Tensor
}

// Eval is a model's score on a labelled set.
type Eval struct {
	Accuracy  float64 `json:"accuracy"`
	Loss      float64 `json:"loss"`
	Confusion [][]int `json:"confusion,omitempty"` // [true label][predicted label]
}

// Result is a finished trial.
type Result struct {
	Folds    []Fold
	BestFold int            // the fold with the highest final validation accuracy (first on ties)
	Weights  []model.Tensor // the best fold's trained weights
}

// Event is a progress report, sent after every epoch.
type Event struct {
	Fold, Folds   int // Fold counts from 0
	Epoch, Epochs int // Epoch counts from 1
	Metrics       Epoch
	Restored      bool // replayed from a checkpoint, not trained now
}

// Data is what a trial trains and tests on.
type Data struct {
	Train, Test *dataset.Set
}

// Device selects the device a process trains on (cpu, cuda or auto) with
// a note for the user when auto chose; cuda on a build or machine that
// cannot use a GPU is an error naming what is missing. Select once, before
// training: the choice is process-wide (it switches gorgonia's BLAS).
func Device(configured string) (engine.DeviceInfo, string, error) {
	return engine.SelectDevice(configured)
}

// Options control how a trial runs; none of them changes its results.
type Options struct {
	Jobs        int          // folds trained side by side; < 1 means 1
	Progress    func(Event)  // called after every epoch, one call at a time; may be nil
	Checkpoints Checkpointer // per-epoch fold checkpoints; nil for none
}

// Checkpointer keeps fold checkpoints, so an interrupted trial resumes from
// its last finished epoch.
type Checkpointer interface {
	// Load returns fold's checkpoint, or nil when there is none.
	Load(fold int) (*Checkpoint, error)
	// Save replaces fold's checkpoint; it must never leave a partial one.
	Save(fold int, c *Checkpoint) error
}

// Checkpoint is a fold's state after a finished epoch, or its final result.
type Checkpoint struct {
	Fold        Fold           // metrics so far (final when Done)
	Done        bool           // the fold has finished; Weights is its model
	Weights     []model.Tensor // the finished fold's weights
	Net         *engine.State  // training state, when not Done
	Order       []int          // the training order as last shuffled
	Shuffle     []byte         // the shuffle stream's state
	BestWeights []model.Tensor // early stopping's best epoch so far
}

// Run trains every fold of a trial, up to opts.Jobs folds at a time (each
// fold has its own random streams, so the result does not depend on Jobs,
// nor on whether it resumed from checkpoints), on the device selected with
// Device. A cancelled ctx stops between steps with ctx.Err().
func Run(ctx context.Context, c config.Trial, data Data, opts Options) (*Result, error) {
	jobs, progress := opts.Jobs, opts.Progress
	folds, err := dataset.Folds(data.Train.Len(), c.Split.Folds, c.Split.Holdout,
		rand.New(rand.NewPCG(c.Seed, streamFolds)))
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	report := func(e Event) {
		if progress != nil {
			mu.Lock()
			defer mu.Unlock()
			progress(e)
		}
	}
	if jobs < 1 {
		jobs = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &Result{Folds: make([]Fold, len(folds))}
	errs := make([]error, len(folds))
	sem := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	for i, f := range folds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fr, err := runFold(ctx, c, data, i, len(folds), f, report, opts.Checkpoints)
			if err != nil {
				errs[i] = fmt.Errorf("fold %d of %d: %w", i+1, len(folds), err)
				cancel()
				return
			}
			res.Folds[i] = *fr
		}()
	}
	wg.Wait()
	// The first error by fold order, preferring a real failure over the
	// cancellations it caused in other folds.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	for i := range res.Folds {
		if res.Folds[i].ValAccuracy > res.Folds[res.BestFold].ValAccuracy {
			res.BestFold = i
		}
	}
	res.Weights = res.Folds[res.BestFold].weights
	for i := range res.Folds {
		res.Folds[i].weights = nil
		if i != res.BestFold {
			res.Folds[i].Test.Confusion = nil
		}
	}
	return res, nil
}

// LearningRate is the rate for an epoch (from 1) under the trial's
// schedule, stepped per epoch as PyTorch's StepLR and CosineAnnealingLR
// (to 0 over the run) do.
func LearningRate(t config.Train, epoch int) float64 {
	switch t.Schedule {
	case "step":
		return t.LearningRate * math.Pow(t.Gamma, float64((epoch-1)/t.StepSize))
	case "cosine":
		return t.LearningRate * 0.5 * (1 + math.Cos(math.Pi*float64(epoch-1)/float64(t.Epochs)))
	}
	return t.LearningRate
}

func runFold(ctx context.Context, c config.Trial, data Data, fold, nfolds int, f dataset.Fold, progress func(Event), ck Checkpointer) (*Fold, error) {
	start := time.Now()
	var saved *Checkpoint
	if ck != nil {
		var err error
		if saved, err = ck.Load(fold); err != nil {
			return nil, err
		}
	}
	if saved != nil && saved.Done {
		out := saved.Fold
		out.weights = saved.Weights
		for _, m := range out.Epochs {
			progress(Event{Fold: fold, Folds: nfolds, Epoch: m.Epoch, Epochs: c.Train.Epochs, Metrics: m, Restored: true})
		}
		return &out, nil
	}
	spec, err := c.Spec()
	if err != nil {
		return nil, err
	}
	net, err := engine.New(spec, engine.Options{
		BatchSize:    c.Train.BatchSize,
		Optimizer:    c.Train.Optimizer,
		LearningRate: c.Train.LearningRate,
		Momentum:     c.Train.Momentum,
		Nesterov:     c.Train.Nesterov,
		WeightDecay:  c.Train.WeightDecay,
		Init:         c.Model.Init,
	}, rand.New(rand.NewPCG(c.Seed, streamInit+uint64(fold))))
	if err != nil {
		return nil, err
	}
	defer net.Close()
	shufflePC := rand.NewPCG(c.Seed, streamShuffle+uint64(fold))
	shuffle := rand.New(shufflePC)
	val := data.Train.Subset(f.Val)
	order := append([]int(nil), f.Train...)
	feat, batch := data.Train.Features(), c.Train.BatchSize
	steps := len(order) / batch // the remainder sits out this epoch; the shuffle rotates it
	if steps == 0 {
		return nil, fmt.Errorf("batch size %d is larger than the %d training examples", batch, len(order))
	}
	x := make([]float32, batch*feat)
	y := make([]uint8, batch)
	out := &Fold{Fold: fold, TrainSize: len(f.Train), ValSize: len(f.Val)}
	stop := c.Train.EarlyStopping
	var bestWeights []model.Tensor
	first, prior := 1, 0.0
	if saved != nil {
		prior = saved.Fold.Seconds
		if len(saved.Order) != len(order) {
			return nil, fmt.Errorf("checkpoint of fold %d does not match its data (%d examples, want %d)", fold+1, len(saved.Order), len(order))
		}
		if err := net.Restore(saved.Net); err != nil {
			return nil, fmt.Errorf("checkpoint of fold %d: %w", fold+1, err)
		}
		if err := shufflePC.UnmarshalBinary(saved.Shuffle); err != nil {
			return nil, fmt.Errorf("checkpoint of fold %d: %w", fold+1, err)
		}
		copy(order, saved.Order)
		*out = saved.Fold
		bestWeights = saved.BestWeights
		first = len(out.Epochs) + 1
		for _, m := range out.Epochs {
			progress(Event{Fold: fold, Folds: nfolds, Epoch: m.Epoch, Epochs: c.Train.Epochs, Metrics: m, Restored: true})
		}
	}
	stopped := saved != nil && stop.Patience > 0 && len(out.Epochs)-out.BestEpoch >= stop.Patience
	for epoch := first; epoch <= c.Train.Epochs && !stopped; epoch++ {
		t0 := time.Now()
		net.SetLearningRate(LearningRate(c.Train, epoch))
		shuffle.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var lossSum float64
		correct := 0
		for s := 0; s < steps; s++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for b, idx := range order[s*batch : (s+1)*batch] {
				if sh := c.Train.Augment.Shift; sh > 0 {
					shiftImage(x[b*feat:(b+1)*feat], data.Train.Image(idx), data.Train.Rows, data.Train.Cols,
						shuffle.IntN(2*sh+1)-sh, shuffle.IntN(2*sh+1)-sh)
				} else {
					copy(x[b*feat:(b+1)*feat], data.Train.Image(idx))
				}
				y[b] = data.Train.Y[idx]
			}
			loss, ok, err := net.Step(x, y)
			if err != nil {
				return nil, fmt.Errorf("epoch %d step %d: %w", epoch, s+1, err)
			}
			lossSum += loss
			correct += ok
		}
		ev, err := evaluate(net, val, false)
		if err != nil {
			return nil, err
		}
		// A step leaves a few KB of garbage (gorgonia's tape, gonum's
		// buffers): far too little to start a collection, so the heap would
		// creep towards the collector's target, twice the live data, over
		// many epochs. Collecting here holds the peak at the live data plus
		// one epoch's garbage from the first epoch on, for a millisecond or
		// two (the data sets, most of the heap, hold no pointers to scan).
		runtime.GC()
		m := Epoch{
			Epoch:         epoch,
			TrainLoss:     lossSum / float64(steps),
			TrainAccuracy: float64(correct) / float64(steps*batch),
			ValLoss:       ev.Loss,
			ValAccuracy:   ev.Accuracy,
			Seconds:       time.Since(t0).Seconds(),
		}
		out.Epochs = append(out.Epochs, m)
		if stop.Patience == 0 {
			out.BestEpoch = epoch
		} else if out.BestEpoch == 0 || better(stop.Metric, m, out.Epochs[out.BestEpoch-1]) {
			out.BestEpoch, bestWeights = epoch, net.Weights()
		} else if epoch-out.BestEpoch >= stop.Patience {
			stopped = true
		}
		if ck != nil && epoch < c.Train.Epochs && !stopped {
			st, err := net.State()
			if err != nil {
				return nil, err
			}
			shuf, err := shufflePC.MarshalBinary()
			if err != nil {
				return nil, err
			}
			snap := *out
			snap.Seconds = prior + time.Since(start).Seconds()
			if err := ck.Save(fold, &Checkpoint{Fold: snap, Net: st, Order: order, Shuffle: shuf, BestWeights: bestWeights}); err != nil {
				return nil, fmt.Errorf("saving the checkpoint of fold %d: %w", fold+1, err)
			}
		}
		progress(Event{Fold: fold, Folds: nfolds, Epoch: epoch, Epochs: c.Train.Epochs, Metrics: m})
	}
	if bestWeights != nil && out.BestEpoch != len(out.Epochs) {
		if err := net.SetWeights(bestWeights); err != nil {
			return nil, err
		}
	}
	kept := out.Epochs[out.BestEpoch-1]
	out.TrainAccuracy, out.ValAccuracy = kept.TrainAccuracy, kept.ValAccuracy
	if out.Test, err = evaluate(net, data.Test, true); err != nil {
		return nil, err
	}
	out.weights = net.Weights()
	out.Seconds = prior + time.Since(start).Seconds()
	if ck != nil {
		if err := ck.Save(fold, &Checkpoint{Fold: *out, Done: true, Weights: out.weights}); err != nil {
			return nil, fmt.Errorf("saving fold %d: %w", fold+1, err)
		}
	}
	return out, nil
}

// shiftImage writes src translated by (dx, dy) pixels into dst, filling
// what comes in from outside with zeros. The shifts are drawn from the
// fold's shuffle stream, so augmented runs stay reproducible and resumable.
func shiftImage(dst, src []float32, rows, cols, dx, dy int) {
	clear(dst)
	for r := max(0, dy); r < min(rows, rows+dy); r++ {
		sr := r - dy
		lo, hi := max(0, dx), min(cols, cols+dx)
		copy(dst[r*cols+lo:r*cols+hi], src[sr*cols+lo-dx:sr*cols+hi-dx])
	}
}

// better reports whether epoch a beats epoch b on the early-stopping metric.
func better(metric string, a, b Epoch) bool {
	if metric == "val_loss" {
		return a.ValLoss < b.ValLoss
	}
	return a.ValAccuracy > b.ValAccuracy
}

// evaluate scores the net on a set: accuracy, mean cross-entropy and,
// when asked, the confusion matrix.
func evaluate(net *engine.Net, s *dataset.Set, confusion bool) (Eval, error) {
	probs := make([]float32, s.Len()*s.Classes)
	if err := net.Predict(s.X, probs); err != nil {
		return Eval{}, err
	}
	var ev Eval
	if confusion {
		ev.Confusion = make([][]int, s.Classes)
		for i := range ev.Confusion {
			ev.Confusion[i] = make([]int, s.Classes)
		}
	}
	correct := 0
	var loss float64
	for i, label := range s.Y {
		p := probs[i*s.Classes : (i+1)*s.Classes]
		pred := 0
		for c := range p {
			if p[c] > p[pred] {
				pred = c
			}
		}
		if pred == int(label) {
			correct++
		}
		if ev.Confusion != nil {
			ev.Confusion[label][pred]++
		}
		loss -= math.Log(max(float64(p[label]), 1e-12))
	}
	ev.Accuracy = float64(correct) / float64(s.Len())
	ev.Loss = loss / float64(s.Len())
	return ev, nil
}
