// Package engine is nnx's one door to gorgonia: it turns a model.Spec into a
// training graph and an evaluation graph, runs optimiser steps and
// predictions, and hands weights back as plain float32 slices. No other
// package imports gorgonia.
package engine

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnx-dev/nnx/pkg/model"
)

// Options configure training.
type Options struct {
	BatchSize    int
	EvalBatch    int     // examples per evaluation pass; 0 means 1000
	Optimizer    string  // "sgd" or "adam"
	LearningRate float64 // > 0
	Momentum     float64 // sgd only, in [0, 1)
	Init         string  // "normal" (N(0, 0.01), the seed's) or "glorot"
}

// Optimizers lists the optimiser names Options accepts.
func Optimizers() []string { return []string{"sgd", "adam"} }

// Inits lists the initialisation names Options accepts.
func Inits() []string { return []string{"normal", "glorot"} }

// Net is a network being trained. It is not safe for concurrent use.
type Net struct {
	spec   model.Spec
	opt    Options
	params []model.Param
	values []*tensor.Dense // weights, shared by both graphs

	train  *pass
	eval   *pass
	solver G.Solver
	learn  G.Nodes
}

// pass is one compiled graph with a fixed batch size.
type pass struct {
	batch  int
	g      *G.ExprGraph
	vm     G.VM
	x, y   *tensor.Dense // inputs, written in place before each run
	loss   G.Value       // training only
	output G.Value       // logits (training) or probabilities (evaluation)
	wnodes G.Nodes
}

// New builds a network with weights drawn from rng.
func New(spec model.Spec, opt Options, rng *rand.Rand) (*Net, error) {
	if opt.BatchSize < 1 {
		return nil, fmt.Errorf("batch size must be at least 1, got %d", opt.BatchSize)
	}
	if opt.EvalBatch == 0 {
		opt.EvalBatch = 1000
	}
	if !(opt.LearningRate > 0) {
		return nil, fmt.Errorf("learning rate must be > 0, got %g", opt.LearningRate)
	}
	params, err := spec.Params()
	if err != nil {
		return nil, err
	}
	n := &Net{spec: spec, opt: opt, params: params}
	for _, p := range params {
		data, err := initValues(p, opt.Init, rng)
		if err != nil {
			return nil, err
		}
		n.values = append(n.values, tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(data)))
	}
	switch opt.Optimizer {
	case "sgd", "":
		if opt.Momentum < 0 || opt.Momentum >= 1 {
			return nil, fmt.Errorf("momentum must be in [0, 1), got %g", opt.Momentum)
		}
		if opt.Momentum == 0 {
			n.solver = G.NewVanillaSolver(G.WithLearnRate(opt.LearningRate))
		} else {
			n.solver = G.NewMomentum(G.WithLearnRate(opt.LearningRate), G.WithMomentum(opt.Momentum))
		}
	case "adam":
		n.solver = G.NewAdamSolver(G.WithLearnRate(opt.LearningRate))
	default:
		return nil, fmt.Errorf("unknown optimizer %q (valid: sgd, adam)", opt.Optimizer)
	}
	if n.train, err = n.build(opt.BatchSize, true); err != nil {
		return nil, fmt.Errorf("building the training graph: %w", err)
	}
	return n, nil
}

// initValues draws a parameter's starting values.
func initValues(p model.Param, init string, rng *rand.Rand) ([]float32, error) {
	data := make([]float32, model.Shape(p.Shape).Size())
	if p.Bias {
		return data, nil
	}
	switch init {
	case "normal", "":
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.01)
		}
	case "glorot":
		fanOut := p.Shape[len(p.Shape)-1]
		a := math.Sqrt(6 / float64(p.FanIn+fanOut))
		for i := range data {
			data[i] = float32((2*rng.Float64() - 1) * a)
		}
	default:
		return nil, fmt.Errorf("unknown init %q (valid: normal, glorot)", init)
	}
	return data, nil
}

// build compiles the graph for one batch size. Training graphs end in the
// mean softmax cross-entropy and its gradients; evaluation graphs in softmax
// probabilities.
func (n *Net) build(batch int, training bool) (p *pass, err error) {
	defer func() {
		// gorgonia's constructors panic on shape and type errors.
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia: %v", r)
		}
	}()
	in := n.spec.Input.Size()
	p = &pass{batch: batch, g: G.NewGraph()}
	p.x = tensor.New(tensor.WithShape(batch, in), tensor.Of(tensor.Float32))
	x := G.NewMatrix(p.g, tensor.Float32, G.WithShape(batch, in), G.WithName("x"), G.WithValue(p.x))
	for i, prm := range n.params {
		p.wnodes = append(p.wnodes, G.NewMatrix(p.g, tensor.Float32, G.WithShape(prm.Shape...),
			G.WithName(prm.Name), G.WithValue(n.values[i])))
	}
	logits, err := n.forward(x, p.wnodes)
	if err != nil {
		return nil, err
	}
	if !training {
		probs, err := G.SoftMax(logits)
		if err != nil {
			return nil, err
		}
		G.Read(probs, &p.output)
		p.vm = G.NewTapeMachine(p.g, G.EvalMode())
		return p, nil
	}
	p.y = tensor.New(tensor.WithShape(batch, n.spec.Classes), tensor.Of(tensor.Float32))
	y := G.NewMatrix(p.g, tensor.Float32, G.WithShape(batch, n.spec.Classes), G.WithName("y"), G.WithValue(p.y))
	logp, err := G.LogSoftMax(logits)
	if err != nil {
		return nil, err
	}
	picked, err := G.HadamardProd(y, logp)
	if err != nil {
		return nil, err
	}
	perExample, err := G.Sum(picked, 1)
	if err != nil {
		return nil, err
	}
	mean, err := G.Mean(perExample)
	if err != nil {
		return nil, err
	}
	loss, err := G.Neg(mean)
	if err != nil {
		return nil, err
	}
	G.Read(loss, &p.loss)
	G.Read(logits, &p.output)
	if _, err := G.Grad(loss, p.wnodes...); err != nil {
		return nil, err
	}
	n.learn = p.wnodes
	p.vm = G.NewTapeMachine(p.g, G.BindDualValues(p.wnodes...))
	return p, nil
}

// forward adds the layers to the graph and returns the logits node.
func (n *Net) forward(x *G.Node, w G.Nodes) (*G.Node, error) {
	h := x
	wi := 0
	var err error
	for _, l := range n.spec.Layers {
		switch l.Kind {
		case model.Dense:
			if h, err = G.Mul(h, w[wi]); err != nil {
				return nil, err
			}
			if h, err = G.BroadcastAdd(h, w[wi+1], nil, []byte{0}); err != nil {
				return nil, err
			}
			wi += 2
		case model.Flatten:
		case model.ReLU:
			h, err = G.Rectify(h)
		case model.Tanh:
			h, err = G.Tanh(h)
		case model.Sigmoid:
			h, err = G.Sigmoid(h)
		case model.Softmax:
			h, err = G.SoftMax(h)
		default:
			return nil, fmt.Errorf("layer %s is not supported by the engine", l.Kind)
		}
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Step runs one optimiser step on a minibatch of exactly BatchSize examples
// (x holds BatchSize*features values, y the labels). It returns the mean loss
// and how many examples the model classified correctly before the update.
func (n *Net) Step(x []float32, y []uint8) (loss float64, correct int, err error) {
	p := n.train
	if len(y) != p.batch || len(x) != p.batch*n.spec.Input.Size() {
		return 0, 0, fmt.Errorf("step: want a batch of %d examples, got %d labels and %d values", p.batch, len(y), len(x))
	}
	copy(p.x.Data().([]float32), x)
	oh := p.y.Data().([]float32)
	clear(oh)
	for i, c := range y {
		oh[i*n.spec.Classes+int(c)] = 1
	}
	if err := p.vm.RunAll(); err != nil {
		p.vm.Reset()
		return 0, 0, fmt.Errorf("training step: %w", err)
	}
	p.vm.Reset()
	if err := n.solver.Step(G.NodesToValueGrads(n.learn)); err != nil {
		return 0, 0, fmt.Errorf("optimizer step: %w", err)
	}
	loss = float64(scalar(p.loss))
	logits := p.output.Data().([]float32)
	for i, c := range y {
		if argmax(logits[i*n.spec.Classes:(i+1)*n.spec.Classes]) == int(c) {
			correct++
		}
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, correct, fmt.Errorf("training diverged: loss is %v (try a smaller learning rate)", loss)
	}
	return loss, correct, nil
}

func scalar(v G.Value) float32 {
	switch d := v.Data().(type) {
	case float32:
		return d
	case []float32:
		return d[0]
	}
	return float32(math.NaN())
}

func argmax(v []float32) int {
	best := 0
	for i, f := range v {
		if f > v[best] {
			best = i
		}
	}
	return best
}

// Predict writes the class probabilities of the count examples in x
// (count*features values) into probs (count*classes values), in batches of
// EvalBatch with the current weights.
func (n *Net) Predict(x []float32, probs []float32) error {
	feat, classes := n.spec.Input.Size(), n.spec.Classes
	count := len(x) / feat
	if len(x) != count*feat || len(probs) != count*classes {
		return fmt.Errorf("predict: %d values are not whole examples of %d features, or probs has %d values for %d examples", len(x), feat, len(probs), count)
	}
	if n.eval == nil {
		var err error
		if n.eval, err = n.build(n.opt.EvalBatch, false); err != nil {
			return fmt.Errorf("building the evaluation graph: %w", err)
		}
	}
	p := n.eval
	xb := p.x.Data().([]float32)
	for start := 0; start < count; start += p.batch {
		m := min(p.batch, count-start)
		copy(xb, x[start*feat:(start+m)*feat])
		clear(xb[m*feat:])
		if err := p.vm.RunAll(); err != nil {
			p.vm.Reset()
			return fmt.Errorf("evaluation: %w", err)
		}
		p.vm.Reset()
		copy(probs[start*classes:(start+m)*classes], p.output.Data().([]float32)[:m*classes])
	}
	return nil
}

// Weights returns a copy of every parameter tensor.
func (n *Net) Weights() []model.Tensor {
	out := make([]model.Tensor, len(n.params))
	for i, p := range n.params {
		out[i] = model.Tensor{Name: p.Name, Shape: append([]int(nil), p.Shape...),
			Data: append([]float32(nil), n.values[i].Data().([]float32)...)}
	}
	return out
}

// Close releases the compiled graphs.
func (n *Net) Close() {
	for _, p := range []*pass{n.train, n.eval} {
		if p != nil && p.vm != nil {
			p.vm.Close()
		}
	}
}
