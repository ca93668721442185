// Package train runs one trial: k-fold cross-validation of a model on a
// dataset, epoch by epoch, and the test-set evaluation of every fold's
// model. Every random draw comes from the trial's seed.
package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
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
	TrainAccuracy float64 `json:"train_accuracy"` // last epoch's
	ValAccuracy   float64 `json:"val_accuracy"`   // last epoch's
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
}

// Data is what a trial trains and tests on.
type Data struct {
	Train, Test *dataset.Set
}

// Device resolves a configured device to the one training uses, with a
// note for the user when it chose: cpu is cpu; auto is cpu in this build;
// cuda is an error until nnx has a CUDA build.
func Device(configured string) (device, note string, err error) {
	switch configured {
	case "cpu", "":
		return "cpu", "", nil
	case "auto":
		return "cpu", "device auto: using cpu (this build of nnx has no CUDA support)", nil
	case "cuda":
		return "", "", fmt.Errorf("device cuda: this build of nnx has no CUDA support; use device: cpu or auto")
	}
	return "", "", fmt.Errorf("unknown device %q (valid: cpu, cuda, auto)", configured)
}

// Spec builds the model described by a trial config for the given data.
func Spec(c config.Trial, d *dataset.Set) model.Spec {
	return model.Spec{
		Input:   model.Shape{d.Rows, d.Cols},
		Classes: d.Classes,
		Layers:  append([]model.Layer{{Kind: model.Flatten}}, model.MLP(c.Model.Hidden, model.Kind(c.Model.Activation), d.Classes)...),
	}
}

// Run trains every fold of a trial. progress, if not nil, gets an Event per
// epoch. A cancelled ctx stops between steps with ctx.Err().
func Run(ctx context.Context, c config.Trial, data Data, progress func(Event)) (*Result, error) {
	if _, _, err := Device(c.Device); err != nil {
		return nil, err
	}
	folds, err := dataset.Folds(data.Train.Len(), c.Split.Folds, c.Split.Holdout,
		rand.New(rand.NewPCG(c.Seed, streamFolds)))
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for i, f := range folds {
		fr, err := runFold(ctx, c, data, i, len(folds), f, progress)
		if err != nil {
			return nil, fmt.Errorf("fold %d of %d: %w", i+1, len(folds), err)
		}
		res.Folds = append(res.Folds, *fr)
		if fr.ValAccuracy > res.Folds[res.BestFold].ValAccuracy {
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

func runFold(ctx context.Context, c config.Trial, data Data, fold, nfolds int, f dataset.Fold, progress func(Event)) (*Fold, error) {
	start := time.Now()
	spec := Spec(c, data.Train)
	net, err := engine.New(spec, engine.Options{
		BatchSize:    c.Train.BatchSize,
		Optimizer:    c.Train.Optimizer,
		LearningRate: c.Train.LearningRate,
		Momentum:     c.Train.Momentum,
		Init:         c.Model.Init,
	}, rand.New(rand.NewPCG(c.Seed, streamInit+uint64(fold))))
	if err != nil {
		return nil, err
	}
	defer net.Close()
	shuffle := rand.New(rand.NewPCG(c.Seed, streamShuffle+uint64(fold)))
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
	for epoch := 1; epoch <= c.Train.Epochs; epoch++ {
		t0 := time.Now()
		shuffle.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var lossSum float64
		correct := 0
		for s := 0; s < steps; s++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for b, idx := range order[s*batch : (s+1)*batch] {
				copy(x[b*feat:(b+1)*feat], data.Train.Image(idx))
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
		m := Epoch{
			Epoch:         epoch,
			TrainLoss:     lossSum / float64(steps),
			TrainAccuracy: float64(correct) / float64(steps*batch),
			ValLoss:       ev.Loss,
			ValAccuracy:   ev.Accuracy,
			Seconds:       time.Since(t0).Seconds(),
		}
		out.Epochs = append(out.Epochs, m)
		if progress != nil {
			progress(Event{Fold: fold, Folds: nfolds, Epoch: epoch, Epochs: c.Train.Epochs, Metrics: m})
		}
	}
	last := out.Epochs[len(out.Epochs)-1]
	out.TrainAccuracy, out.ValAccuracy = last.TrainAccuracy, last.ValAccuracy
	if out.Test, err = evaluate(net, data.Test, true); err != nil {
		return nil, err
	}
	out.weights = net.Weights()
	out.Seconds = time.Since(start).Seconds()
	return out, nil
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
