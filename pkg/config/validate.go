package config

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/nnx-dev/nnx/pkg/config/strict"
	"github.com/nnx-dev/nnx/pkg/model"
)

// mnistSizes are the training and test set sizes of the mnist source.
const mnistTrain, mnistTest = 60000, 10000

// Enumerations of the string fields.
func activations() []string { return []string{"relu", "tanh", "sigmoid"} }
func inits() []string       { return []string{"normal", "glorot", "he", "pytorch"} }
func schedules() []string   { return []string{"constant", "step", "cosine"} }
func stopMetrics() []string { return []string{"val_accuracy", "val_loss"} }
func optimizers() []string  { return []string{"sgd", "adam"} }
func devices() []string     { return []string{"cpu", "cuda", "auto"} }
func sources() []string     { return []string{"mnist"} }
func testSets() []string    { return []string{"official"} }

// Validate checks every value of a resolved trial and returns one error per
// bad field, each at the position the value was written.
func Validate(t Trial, pos strict.Positions) []*strict.Error {
	var errs []*strict.Error
	raw := func(field, msg string) {
		p, _ := pos.Lookup(field)
		errs = append(errs, &strict.Error{Pos: p, Field: field, Msg: msg})
	}
	bad := func(field, format string, args ...any) {
		raw(field, field+": "+fmt.Sprintf(format, args...))
	}
	oneOf := func(field, v string, valid []string) {
		if slices.Contains(valid, v) {
			return
		}
		msg := fmt.Sprintf("unknown value %q", v)
		if field == "device" && (v == "gpu" || v == "nvidia") {
			msg += ` (did you mean "cuda"?)`
		} else if s := strict.Suggest(v, valid); s != "" {
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
	validateModel(t, pos, raw, bad, oneOf)
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
	if t.Train.Nesterov && !(t.Train.Optimizer == "sgd" && t.Train.Momentum > 0) {
		bad("train.nesterov", "needs optimizer sgd with a momentum > 0")
	}
	if !(t.Train.WeightDecay >= 0) {
		bad("train.weight_decay", "must be >= 0, got %g", t.Train.WeightDecay)
	}
	if t.Train.Schedule != "" {
		oneOf("train.schedule", t.Train.Schedule, schedules())
	}
	if t.Train.Schedule == "step" {
		if t.Train.StepSize < 1 {
			bad("train.step_size", "must be at least 1 epoch, got %d", t.Train.StepSize)
		}
		if !(t.Train.Gamma > 0 && t.Train.Gamma <= 1) {
			bad("train.gamma", "must be in (0, 1], got %g", t.Train.Gamma)
		}
	}
	if t.Train.EarlyStopping.Metric != "" {
		oneOf("train.early_stopping.metric", t.Train.EarlyStopping.Metric, stopMetrics())
	}
	if src, ok := Sources()[t.Data.Source]; ok && len(src.Input) == 3 {
		if sh := t.Train.Augment.Shift; sh < 0 || sh >= min(src.Input[1], src.Input[2]) {
			bad("train.augment.shift", "must be between 0 and %d pixels, got %d", min(src.Input[1], src.Input[2])-1, sh)
		}
	}
	if t.Train.EarlyStopping.Patience < 0 {
		bad("train.early_stopping.patience", "must be >= 0 (0 turns early stopping off), got %d", t.Train.EarlyStopping.Patience)
	}
	oneOf("device", t.Device, devices())
	return errs
}

// validateModel checks the model section: the MLP shorthand or the layer
// list, each layer's settings, and the shapes flowing through them.
func validateModel(t Trial, pos strict.Positions, raw func(string, string), bad func(string, string, ...any), oneOf func(string, string, []string)) {
	m := t.Model
	if len(m.Layers) > 0 {
		if _, written := pos["model.hidden"]; written && len(m.Hidden) > 0 {
			bad("model.hidden", "give either model.hidden (an MLP) or model.layers, not both")
			return
		}
		ok := true
		for i, l := range m.Layers {
			at := fmt.Sprintf("model.layers[%d]", i)
			for field, act := range map[string]string{"conv2d": actOf(l.Conv2D), "dense": actOfDense(l.Dense)} {
				if act != "" && !slices.Contains(activations(), act) {
					oneOf(at+"."+field+".activation", act, activations())
					ok = false
				}
			}
		}
		if !ok {
			return
		}
	} else {
		ok := true
		for i, h := range m.Hidden {
			if h < 1 {
				bad(fmt.Sprintf("model.hidden[%d]", i), "a layer needs at least 1 unit, got %d", h)
				ok = false
			}
		}
		if !slices.Contains(activations(), m.Activation) {
			oneOf("model.activation", m.Activation, activations())
			ok = false
		}
		if !ok {
			return
		}
	}
	src, ok := Sources()[t.Data.Source]
	if !ok {
		return // reported with data.source
	}
	layers, index := m.modelLayers(src.Classes)
	_, err := model.Spec{Input: src.Input, Classes: src.Classes, Layers: layers}.Shapes()
	var se *model.ShapeError
	if errors.As(err, &se) {
		field := "model.hidden"
		if index != nil {
			field = fmt.Sprintf("model.layers[%d]", index[se.Index])
			se.Index = index[se.Index]
		}
		raw(field, se.Error())
	} else if err != nil {
		bad("model", "%v", err)
	}
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

func actOf(c *Conv2D) string {
	if c == nil {
		return ""
	}
	return c.Activation
}

func actOfDense(d *Dense) string {
	if d == nil {
		return ""
	}
	return d.Activation
}
