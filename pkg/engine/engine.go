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

// Batch-norm constants, as PyTorch's defaults: running = 0.9*running +
// 0.1*batch, and eps under the square root.
const (
	bnMomentum = 0.1
	bnEpsilon  = 1e-5
)

// Options configure training.
type Options struct {
	BatchSize    int
	EvalBatch    int     // examples per evaluation pass; 0 means 1000
	Optimizer    string  // "sgd" or "adam"
	LearningRate float64 // > 0
	Momentum     float64 // sgd: in [0, 1)
	Nesterov     bool    // sgd: Nesterov momentum
	WeightDecay  float64 // L2 penalty added to the gradients, >= 0
	Init         string  // "normal": weights N(0, 0.01), the seed MLP's; "glorot": uniform Glorot; "he": normal He; "pytorch": U(±1/sqrt(fan_in)) for weights and biases, PyTorch's default (other biases start at 0)
}

// Net is a network being trained. It is not safe for concurrent use.
type Net struct {
	spec   model.Spec
	opt    Options
	params []model.Param
	values []*tensor.Dense // every param's values; learnables are shared by both graphs
	learn  []int           // indices of learnable params
	drop   *rand.Rand      // dropout masks
	dropPC *rand.PCG       // drop's source, saved in checkpoints
	optim  *optimizer

	train *pass
	eval  *pass
}

// pass is one compiled graph with a fixed batch size.
type pass struct {
	batch   int
	g       *G.ExprGraph
	vm      G.VM
	x, y    *tensor.Dense // inputs, written in place before each run
	loss    G.Value       // training only
	output  G.Value       // logits (training) or probabilities (evaluation)
	wnodes  G.Nodes       // learnable param nodes, in n.learn order
	bn      []*batchNormOp
	masks   []mask
	weights [][]float32 // learnable values, in n.learn order
	gnodes  G.Nodes     // their gradients' nodes, in n.learn order
	grads   [][]float32 // the gradients' values after a run (reused)
}

// mask is a dropout layer's keep mask, redrawn before every training step.
type mask struct {
	rate float64
	t    *tensor.Dense
}

// New builds a network with weights drawn from rng.
func New(spec model.Spec, opt Options, rng *rand.Rand) (*Net, error) {
	if opt.BatchSize < 1 {
		return nil, fmt.Errorf("batch size must be at least 1, got %d", opt.BatchSize)
	}
	if opt.EvalBatch == 0 {
		opt.EvalBatch = 1000
	}
	params, err := spec.Params()
	if err != nil {
		return nil, err
	}
	n := &Net{spec: spec, opt: opt, params: params, dropPC: rand.NewPCG(rng.Uint64(), rng.Uint64())}
	n.drop = rand.New(n.dropPC)
	var sizes []int
	for i, p := range params {
		data, err := initValues(p, opt.Init, rng)
		if err != nil {
			return nil, err
		}
		n.values = append(n.values, tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(data)))
		if p.Learnable {
			n.learn = append(n.learn, i)
			sizes = append(sizes, len(data))
		}
	}
	if n.optim, err = newOptimizer(opt, sizes); err != nil {
		return nil, err
	}
	if n.train, err = n.build(opt.BatchSize, true); err != nil {
		return nil, fmt.Errorf("building the training graph: %w", err)
	}
	return n, nil
}

// initValues draws a parameter's starting values.
func initValues(p model.Param, init string, rng *rand.Rand) ([]float32, error) {
	data := make([]float32, model.Shape(p.Shape).Size())
	fill := func(v float32) {
		for i := range data {
			data[i] = v
		}
	}
	switch p.Role {
	case model.Scale, model.RunningVar:
		fill(1)
		return data, nil
	case model.Shift, model.RunningMean:
		return data, nil
	}
	uniform := func(a float64) {
		for i := range data {
			data[i] = float32((2*rng.Float64() - 1) * a)
		}
	}
	switch init {
	case "normal", "":
		if p.Role == model.Weight {
			for i := range data {
				data[i] = float32(rng.NormFloat64() * 0.01)
			}
		}
	case "glorot":
		if p.Role == model.Weight {
			uniform(math.Sqrt(6 / float64(p.FanIn+p.FanOut)))
		}
	case "he":
		if p.Role == model.Weight {
			sd := math.Sqrt(2 / float64(p.FanIn))
			for i := range data {
				data[i] = float32(rng.NormFloat64() * sd)
			}
		}
	case "pytorch":
		uniform(1 / math.Sqrt(float64(p.FanIn)))
	default:
		return nil, fmt.Errorf("unknown init %q (valid: normal, glorot, he, pytorch)", init)
	}
	return data, nil
}

// build compiles the graph for one batch size. Training graphs end in the
// mean softmax cross-entropy and its gradients; evaluation graphs in softmax
// probabilities, with batch norm on running statistics and no dropout.
func (n *Net) build(batch int, training bool) (p *pass, err error) {
	defer func() {
		// gorgonia's constructors panic on shape and type errors.
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia: %v", r)
		}
	}()
	p = &pass{batch: batch, g: G.NewGraph()}
	xshape := append([]int{batch}, n.spec.Input...)
	p.x = tensor.New(tensor.WithShape(xshape...), tensor.Of(tensor.Float32))
	x := G.NewTensor(p.g, tensor.Float32, len(xshape), G.WithShape(xshape...), G.WithName("x"), G.WithValue(p.x))
	for _, i := range n.learn {
		prm := n.params[i]
		p.wnodes = append(p.wnodes, G.NewTensor(p.g, tensor.Float32, len(prm.Shape), G.WithShape(prm.Shape...),
			G.WithName(prm.Name), G.WithValue(n.values[i])))
		p.weights = append(p.weights, n.values[i].Data().([]float32))
	}
	f, err := forward(n.spec, x, p.wnodes, training, false)
	if err != nil {
		return nil, err
	}
	p.bn = f.bn
	for _, m := range f.masks {
		t := tensor.New(tensor.WithShape(m.node.Shape()...), tensor.Of(tensor.Float32))
		if err := G.Let(m.node, t); err != nil {
			return nil, err
		}
		p.masks = append(p.masks, mask{rate: m.rate, t: t})
	}
	if !training {
		probs, err := G.SoftMax(f.logits)
		if err != nil {
			return nil, err
		}
		G.Read(probs, &p.output)
		p.vm = G.NewTapeMachine(p.g)
		return p, nil
	}
	p.y = tensor.New(tensor.WithShape(batch, n.spec.Classes), tensor.Of(tensor.Float32))
	y := G.NewMatrix(p.g, tensor.Float32, G.WithShape(batch, n.spec.Classes), G.WithName("y"), G.WithValue(p.y))
	loss, err := crossEntropy(f.logits, y)
	if err != nil {
		return nil, err
	}
	G.Read(loss, &p.loss)
	G.Read(f.logits, &p.output)
	if p.gnodes, err = G.Grad(loss, p.wnodes...); err != nil {
		return nil, err
	}
	// No BindDualValues: it would add every gradient into the weight's
	// dual value each step (a pass over all parameters, and one more to
	// zero them); the optimiser reads the gradient nodes' values instead.
	p.vm = G.NewTapeMachine(p.g)
	if err := n.pushStats(p); err != nil {
		return nil, err
	}
	return p, nil
}

// crossEntropy is the mean over the batch of -sum(y * log softmax(logits)).
func crossEntropy(logits, y *G.Node) (*G.Node, error) {
	return crossEntropyOp(logits, y)
}

// built is what forward adds to a graph.
type built struct {
	logits *G.Node
	bn     []*batchNormOp
	masks  []maskNode
}

type maskNode struct {
	rate float64
	node *G.Node
}

// forward adds the layers to x's graph. w holds the learnable param nodes
// in model.Spec.Params order. inputGrad asks for the gradient with respect
// to x too (training never needs it). It works in any float dtype, which
// the gradient checks use.
func forward(spec model.Spec, x *G.Node, w G.Nodes, training, inputGrad bool) (built, error) {
	var out built
	h := x
	wi := 0
	fromData := !inputGrad // h is still the data (reshaped at most): no gradient needed
	batch := x.Shape()[0]
	dt := x.Dtype()
	var err error
	for i, l := range spec.Layers {
		switch l.Kind {
		case model.Dense:
			h, err = dense(h, w[wi], w[wi+1], fromData)
			wi += 2
		case model.Conv2D:
			h, err = conv2d(h, w[wi], w[wi+1], l.EffectiveStride(), l.Padding, fromData)
			wi += 2
		case model.MaxPool2D:
			h, err = maxPool2d(h, l.Kernel, l.EffectiveStride())
		case model.BatchNorm:
			var op *batchNormOp
			h, op, err = batchNorm(h, w[wi], w[wi+1], training)
			out.bn = append(out.bn, op)
			wi += 2
		case model.Dropout:
			if training && l.Rate > 0 {
				m := G.NewTensor(x.Graph(), dt, h.Dims(), G.WithShape(h.Shape().Clone()...), G.WithName(fmt.Sprintf("dropout%d", i)))
				out.masks = append(out.masks, maskNode{rate: l.Rate, node: m})
				h, err = G.HadamardProd(h, m)
			}
		case model.Flatten:
			if h.Dims() != 2 {
				h, err = G.Reshape(h, tensor.Shape{batch, h.Shape().TotalSize() / batch})
			}
		case model.ReLU:
			h, err = relu(h)
		case model.Tanh:
			h, err = G.Tanh(h)
		case model.Sigmoid:
			h, err = G.Sigmoid(h)
		case model.Softmax:
			h, err = G.SoftMax(h)
		default:
			err = fmt.Errorf("layer %s is not supported by the engine", l.Kind)
		}
		if err != nil {
			return out, fmt.Errorf("layers[%d] %s: %w", i, l.Kind, err)
		}
		if l.Kind != model.Flatten {
			fromData = false
		}
	}
	out.logits = h
	return out, nil
}

// SetLearningRate changes the learning rate for the following steps.
func (n *Net) SetLearningRate(lr float64) { n.optim.lr = lr }

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
	for _, m := range p.masks {
		keep := float32(1 / (1 - m.rate))
		d := m.t.Data().([]float32)
		for i := range d {
			if n.drop.Float64() < m.rate {
				d[i] = 0
			} else {
				d[i] = keep
			}
		}
	}
	if err := p.vm.RunAll(); err != nil {
		p.vm.Reset()
		return 0, 0, fmt.Errorf("training step: %w", err)
	}
	p.grads = p.grads[:0]
	for _, gn := range p.gnodes {
		p.grads = append(p.grads, gn.Value().Data().([]float32))
	}
	n.optim.step(p.weights, p.grads)
	p.vm.Reset()
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

// Predict writes the class probabilities of the examples in x (a whole
// number of examples) into probs (classes values per example), in batches
// of EvalBatch with the current weights and batch-norm statistics.
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
	n.pullStats()
	if err := n.pushStats(p); err != nil {
		return err
	}
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

// statParams pairs each batch-norm layer with its running-statistics
// params, in layer order.
func (n *Net) statParams() (means, vars []int) {
	for i, p := range n.params {
		switch p.Role {
		case model.RunningMean:
			means = append(means, i)
		case model.RunningVar:
			vars = append(vars, i)
		}
	}
	return means, vars
}

// pullStats copies the training graph's running statistics into n.values.
func (n *Net) pullStats() {
	means, vars := n.statParams()
	for k, op := range n.train.bn {
		m, v := op.Stats()
		copy(n.values[means[k]].Data().([]float32), m)
		copy(n.values[vars[k]].Data().([]float32), v)
	}
}

// pushStats sets a pass's batch-norm statistics from n.values.
func (n *Net) pushStats(p *pass) error {
	means, vars := n.statParams()
	for k, op := range p.bn {
		if err := op.SetStats(n.values[means[k]].Data().([]float32), n.values[vars[k]].Data().([]float32)); err != nil {
			return err
		}
	}
	return nil
}

// Weights returns a copy of every tensor the network keeps, batch-norm
// running statistics included, in model.Spec.Params order.
func (n *Net) Weights() []model.Tensor {
	n.pullStats()
	out := make([]model.Tensor, len(n.params))
	for i, p := range n.params {
		out[i] = model.Tensor{Name: p.Name, Shape: append([]int(nil), p.Shape...),
			Data: append([]float32(nil), n.values[i].Data().([]float32)...)}
	}
	return out
}

// SetWeights replaces every tensor with ws (as Weights returns them).
func (n *Net) SetWeights(ws []model.Tensor) error {
	if len(ws) != len(n.params) {
		return fmt.Errorf("set weights: %d tensors, the model has %d", len(ws), len(n.params))
	}
	for i, p := range n.params {
		if ws[i].Name != p.Name || model.Shape(ws[i].Shape).Size() != model.Shape(p.Shape).Size() {
			return fmt.Errorf("set weights: tensor %d is %s %v, want %s %v", i, ws[i].Name, ws[i].Shape, p.Name, p.Shape)
		}
		copy(n.values[i].Data().([]float32), ws[i].Data)
	}
	return n.pushStats(n.train)
}

// Close releases the compiled graphs.
func (n *Net) Close() {
	for _, p := range []*pass{n.train, n.eval} {
		if p != nil && p.vm != nil {
			p.vm.Close()
		}
	}
}

// State is everything a Net needs to go on training exactly where it
// stopped: weights and batch-norm statistics, the optimiser's buffers and
// step count, and the dropout random stream.
type State struct {
	Weights      []model.Tensor
	Step         int
	State1       [][]float32
	State2       [][]float32
	Dropout      []byte
	LearningRate float64
}

// State snapshots the network for a checkpoint.
func (n *Net) State() (*State, error) {
	drop, err := n.dropPC.MarshalBinary()
	if err != nil {
		return nil, err
	}
	copyAll := func(bufs [][]float32) [][]float32 {
		if bufs == nil {
			return nil
		}
		out := make([][]float32, len(bufs))
		for i, b := range bufs {
			out[i] = append([]float32(nil), b...)
		}
		return out
	}
	return &State{Weights: n.Weights(), Step: n.optim.t, State1: copyAll(n.optim.state1), State2: copyAll(n.optim.state2),
		Dropout: drop, LearningRate: n.optim.lr}, nil
}

// Restore continues from a snapshot taken by State on a network of the
// same spec and options.
func (n *Net) Restore(s *State) error {
	if err := n.SetWeights(s.Weights); err != nil {
		return err
	}
	restore := func(dst, src [][]float32, what string) error {
		if len(dst) != len(src) {
			return fmt.Errorf("restore: %s has %d buffers, want %d", what, len(src), len(dst))
		}
		for i := range dst {
			if len(dst[i]) != len(src[i]) {
				return fmt.Errorf("restore: %s buffer %d has %d values, want %d", what, i, len(src[i]), len(dst[i]))
			}
			copy(dst[i], src[i])
		}
		return nil
	}
	if err := restore(n.optim.state1, s.State1, "optimizer state"); err != nil {
		return err
	}
	if err := restore(n.optim.state2, s.State2, "optimizer state"); err != nil {
		return err
	}
	n.optim.t, n.optim.lr = s.Step, s.LearningRate
	return n.dropPC.UnmarshalBinary(s.Dropout)
}
