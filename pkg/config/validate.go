package config

import (
	"fmt"
	"math"
	"slices"

	"github.com/nnx-dev/nnx/pkg/config/strict"
)

// mnistSizes are the training and test set sizes of the mnist source.
const mnistTrain, mnistTest = 60000, 10000

// Enumerations of the string fields.
func activations() []string { return []string{"relu", "tanh", "sigmoid"} }
func inits() []string       { return []string{"normal", "glorot"} }
func optimizers() []string  { return []string{"sgd", "adam"} }
func devices() []string     { return []string{"cpu", "cuda", "auto"} }
func sources() []string     { return []string{"mnist"} }
func testSets() []string    { return []string{"official"} }

// Validate checks every value of a resolved trial and returns one error per
// bad field, each at the position the value was written.
func Validate(t Trial, pos strict.Positions) []*strict.Error {
	var errs []*strict.Error
	bad := func(field, format string, args ...any) {
		p, _ := pos.Lookup(field)
		errs = append(errs, &strict.Error{Pos: p, Field: field, Msg: field + ": " + fmt.Sprintf(format, args...)})
	}
	oneOf := func(field, v string, valid []string) {
		if slices.Contains(valid, v) {
			return
		}
		msg := fmt.Sprintf("unknown value %q", v)
		if s := strict.Suggest(v, valid); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += fmt.Sprintf(" (valid: %s)", join(valid))
		}
		bad(field, "%s", msg)
	}
	oneOf("data.source", t.Data.Source, sources())
	n := mnistTrain
	if t.Data.Limit < 0 || t.Data.Limit > mnistTrain {
		bad("data.limit", "must be between 0 (all) and %d, got %d", mnistTrain, t.Data.Limit)
	} else if t.Data.Limit > 0 {
		n = t.Data.Limit
	}
	if t.Data.TestLimit < 0 || t.Data.TestLimit > mnistTest {
		bad("data.test_limit", "must be between 0 (all) and %d, got %d", mnistTest, t.Data.TestLimit)
	}
	trainSize := 0
	switch {
	case t.Split.Folds < 1:
		bad("split.folds", "must be at least 1, got %d", t.Split.Folds)
	case t.Split.Folds > n:
		bad("split.folds", "%d folds need at least %d training examples, the data has %d", t.Split.Folds, t.Split.Folds, n)
	case t.Split.Folds == 1:
		if !(t.Split.Holdout > 0 && t.Split.Holdout < 1) {
			bad("split.holdout", "must be between 0 and 1 (exclusive) with one fold, got %g", t.Split.Holdout)
		} else {
			trainSize = n - int(math.Round(float64(n)*t.Split.Holdout))
		}
	default:
		trainSize = n - n/t.Split.Folds
	}
	oneOf("split.test", t.Split.Test, testSets())
	for i, h := range t.Model.Hidden {
		if h < 1 {
			bad(fmt.Sprintf("model.hidden[%d]", i), "a layer needs at least 1 unit, got %d", h)
		}
	}
	oneOf("model.activation", t.Model.Activation, activations())
	oneOf("model.init", t.Model.Init, inits())
	if t.Train.Epochs < 1 {
		bad("train.epochs", "must be at least 1, got %d", t.Train.Epochs)
	}
	switch {
	case t.Train.BatchSize < 1:
		bad("train.batch_size", "must be at least 1, got %d", t.Train.BatchSize)
	case trainSize > 0 && t.Train.BatchSize > trainSize:
		bad("train.batch_size", "%d is larger than the %d examples of a training fold", t.Train.BatchSize, trainSize)
	}
	oneOf("train.optimizer", t.Train.Optimizer, optimizers())
	if !(t.Train.LearningRate > 0) || math.IsInf(t.Train.LearningRate, 0) {
		bad("train.learning_rate", "must be > 0, got %g", t.Train.LearningRate)
	}
	if !(t.Train.Momentum >= 0 && t.Train.Momentum < 1) {
		bad("train.momentum", "must be in [0, 1), got %g", t.Train.Momentum)
	}
	oneOf("device", t.Device, devices())
	return errs
}

func join(vs []string) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += v
	}
	return s
}
