// Package config loads nnx's YAML files: a pipeline (data, split protocol,
// outputs) and an experiment that names a pipeline and adds the model,
// training, device, seed and grid. Loading is strict: every error names the
// file, line, column and field.
package config

import (
	"go.yaml.in/yaml/v3"
)

// Version is the only file format version nnx reads.
const Version = 1

// Data says which data a pipeline trains and tests on.
type Data struct {
	Source    string `yaml:"source" json:"source"`         // "mnist"
	Path      string `yaml:"path" json:"-"`                // directory of the IDX files; "" = $NNX_DATA, then the Go module cache
	Limit     int    `yaml:"limit" json:"limit"`           // first N training images; 0 = all
	TestLimit int    `yaml:"test_limit" json:"test_limit"` // first N test images; 0 = all
}

// Split is the cross-validation protocol.
type Split struct {
	Folds   int     `yaml:"folds" json:"folds"`     // k >= 1; 1 is a single hold-out
	Holdout float64 `yaml:"holdout" json:"holdout"` // validation fraction when folds is 1
	Test    string  `yaml:"test" json:"test"`       // "official": the data's own test set
}

// Outputs says where results go.
type Outputs struct {
	Dir string `yaml:"dir" json:"-"` // results root, relative to the working directory
}

// Model is the network architecture: either an MLP by its hidden widths
// (the shorthand) or a list of layers.
type Model struct {
	Hidden     []int   `yaml:"hidden,omitempty" json:"hidden,omitempty"`         // hidden layer widths of an MLP
	Activation string  `yaml:"activation,omitempty" json:"activation,omitempty"` // the MLP's activation: relu | tanh | sigmoid
	Layers     []Layer `yaml:"layers,omitempty" json:"layers,omitempty"`         // the layers, instead of hidden
	Init       string  `yaml:"init" json:"init"`                                 // normal | glorot | he | pytorch
}

// Train is the optimisation setup.
type Train struct {
	Epochs        int           `yaml:"epochs" json:"epochs"`                                    // passes over the training folds
	BatchSize     int           `yaml:"batch_size" json:"batch_size"`                            // examples per step
	Optimizer     string        `yaml:"optimizer" json:"optimizer"`                              // sgd | adam
	LearningRate  float64       `yaml:"learning_rate" json:"learning_rate"`                      // > 0
	Momentum      float64       `yaml:"momentum" json:"momentum"`                                // sgd momentum in [0, 1)
	Nesterov      bool          `yaml:"nesterov,omitempty" json:"nesterov,omitempty"`            // sgd: Nesterov momentum
	WeightDecay   float64       `yaml:"weight_decay,omitempty" json:"weight_decay,omitempty"`    // L2 penalty, >= 0
	Schedule      string        `yaml:"schedule,omitempty" json:"schedule,omitempty"`            // constant | step | cosine
	StepSize      int           `yaml:"step_size,omitempty" json:"step_size,omitempty"`          // step: epochs between decays
	Gamma         float64       `yaml:"gamma,omitempty" json:"gamma,omitempty"`                  // step: decay factor
	EarlyStopping EarlyStopping `yaml:"early_stopping,omitempty" json:"early_stopping,omitzero"` // stop a fold that stops improving
	Augment       Augment       `yaml:"augment,omitempty" json:"augment,omitzero"`               // random changes to training images
}

// Augment makes each training image, each time it is used, a little
// different: validation and test images are never changed.
type Augment struct {
	Shift int `yaml:"shift,omitempty" json:"shift,omitempty"` // translate by up to this many pixels in x and y (zeros fill in)
}

// EarlyStopping stops a fold when a validation metric has not improved for
// Patience epochs, and keeps the weights of its best epoch.
type EarlyStopping struct {
	Metric   string `yaml:"metric,omitempty" json:"metric,omitempty"`     // val_accuracy | val_loss
	Patience int    `yaml:"patience,omitempty" json:"patience,omitempty"` // 0: off
}

// Report says how nnx report shows an experiment.
type Report struct {
	Title   string   `yaml:"title" json:"title,omitempty"`     // the table's heading; default: the experiment's name
	Columns []string `yaml:"columns" json:"columns,omitempty"` // table columns, by key; default: the seed README's for the model kind
}

// ReportColumns lists the column keys a report section may name.
func ReportColumns() []string {
	return []string{"trial", "label", "epochs", "learning_rate", "batch_size", "optimizer", "hidden", "folds",
		"train_accuracy", "val_accuracy", "test_accuracy", "time"}
}

// Pipeline is a pipelines/*.yaml file.
type Pipeline struct {
	Version int     `yaml:"version"`
	Name    string  `yaml:"name"`
	Data    Data    `yaml:"data"`
	Split   Split   `yaml:"split"`
	Outputs Outputs `yaml:"outputs"`
	Report  Report  `yaml:"report"`
}

// Experiment is an experiments/*.yaml file. Its data, split and outputs
// sections override the pipeline's field by field.
type Experiment struct {
	Version  int       `yaml:"version"`
	Name     string    `yaml:"name"`
	Pipeline string    `yaml:"pipeline"`
	Data     Data      `yaml:"data"`
	Split    Split     `yaml:"split"`
	Outputs  Outputs   `yaml:"outputs"`
	Report   Report    `yaml:"report"`
	Model    Model     `yaml:"model"`
	Train    Train     `yaml:"train"`
	Device   string    `yaml:"device"`
	Seed     uint64    `yaml:"seed"`
	Grid     yaml.Node `yaml:"grid"`
}

// Trial is the fully resolved configuration of one trial: what trial.yaml
// holds and what the trial id hashes.
type Trial struct {
	Data   Data   `yaml:"data" json:"data"`
	Split  Split  `yaml:"split" json:"split"`
	Model  Model  `yaml:"model" json:"model"`
	Train  Train  `yaml:"train" json:"train"`
	Device string `yaml:"device" json:"device"` // cpu | cuda | auto
	Seed   uint64 `yaml:"seed" json:"seed"`
}

// Defaults are the values a field has when no file sets it.
func Defaults() Experiment {
	return Experiment{
		Data:    Data{Source: "mnist"},
		Split:   Split{Folds: 5, Holdout: 0.2, Test: "official"},
		Outputs: Outputs{Dir: "results"},
		Model:   Model{Hidden: []int{128, 128}, Activation: "relu", Init: "normal"},
		Train: Train{Epochs: 10, BatchSize: 32, Optimizer: "sgd", LearningRate: 0.01, Schedule: "constant",
			StepSize: 10, Gamma: 0.1, EarlyStopping: EarlyStopping{Metric: "val_accuracy"}},
		Device: "cpu",
		Seed:   42,
	}
}

// trial is the resolved trial part of an experiment.
func (e *Experiment) trial() Trial {
	t := Trial{Data: e.Data, Split: e.Split, Model: e.Model, Train: e.Train, Device: e.Device, Seed: e.Seed}
	return t.Clone()
}

// Clone returns a deep copy, so a grid trial can change its slices.
func (t Trial) Clone() Trial {
	t.Model.Hidden = append([]int(nil), t.Model.Hidden...)
	t.Model.Layers = append([]Layer(nil), t.Model.Layers...)
	return t
}
