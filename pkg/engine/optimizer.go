package engine

import (
	"fmt"
	"math"
)

// optimizer updates weights in place from their gradients, with PyTorch's
// semantics so results compare like for like: weight decay adds wd*w to
// the gradient; SGD keeps a momentum buffer b = m*b + g (b = g on the first
// step) and steps by b, or by g + m*b with Nesterov; Adam is Kingma & Ba
// with bias correction. gorgonia's own solvers differ (its Momentum applies
// L2 to the velocity, not the weights), so nnx keeps its own.
type optimizer struct {
	kind         string
	lr, momentum float64
	nesterov     bool
	decay        float64
	beta1, beta2 float64
	eps          float64
	t            int
	state1       [][]float32 // momentum buffer or Adam's first moment
	state2       [][]float32 // Adam's second moment
}

func newOptimizer(o Options, sizes []int) (*optimizer, error) {
	opt := &optimizer{kind: o.Optimizer, lr: o.LearningRate, momentum: o.Momentum, nesterov: o.Nesterov,
		decay: o.WeightDecay, beta1: 0.9, beta2: 0.999, eps: 1e-8}
	if opt.kind == "" {
		opt.kind = "sgd"
	}
	switch {
	case !(o.LearningRate > 0):
		return nil, fmt.Errorf("learning rate must be > 0, got %g", o.LearningRate)
	case o.WeightDecay < 0:
		return nil, fmt.Errorf("weight decay must be >= 0, got %g", o.WeightDecay)
	}
	switch opt.kind {
	case "sgd":
		if o.Momentum < 0 || o.Momentum >= 1 {
			return nil, fmt.Errorf("momentum must be in [0, 1), got %g", o.Momentum)
		}
		if o.Nesterov && o.Momentum == 0 {
			return nil, fmt.Errorf("nesterov needs a momentum > 0")
		}
		if o.Momentum > 0 {
			opt.state1 = alloc(sizes)
		}
	case "adam":
		opt.state1, opt.state2 = alloc(sizes), alloc(sizes)
	default:
		return nil, fmt.Errorf("unknown optimizer %q (valid: sgd, adam)", o.Optimizer)
	}
	return opt, nil
}

func alloc(sizes []int) [][]float32 {
	out := make([][]float32, len(sizes))
	for i, n := range sizes {
		out[i] = make([]float32, n)
	}
	return out
}

// step updates ws from their gradients gs. Each tensor's elements are
// independent, so big tensors are updated side by side.
func (o *optimizer) step(ws, gs [][]float32) {
	o.t++
	for i, w := range ws {
		parallelFor(len(w), elemGrain, func(lo, hi int) { o.update(i, lo, hi, w, gs[i]) })
	}
}

// update applies the step to elements [lo, hi) of tensor i.
func (o *optimizer) update(i, lo, hi int, w, g []float32) {
	w, g = w[lo:hi], g[lo:hi]
	g = g[:len(w)]
	lr, wd := float32(o.lr), float32(o.decay)
	switch o.kind {
	case "sgd":
		m := float32(o.momentum)
		switch {
		case o.state1 == nil:
			for j := range w {
				w[j] -= lr * (g[j] + wd*w[j])
			}
		case o.t == 1: // PyTorch starts the buffer at the first gradient
			b := o.state1[i][lo:hi]
			b = b[:len(w)]
			for j := range w {
				gj := g[j] + wd*w[j]
				b[j] = gj
				if o.nesterov {
					gj += m * b[j]
				}
				w[j] -= lr * gj
			}
		case o.nesterov:
			b := o.state1[i][lo:hi]
			b = b[:len(w)]
			for j := range w {
				gj := g[j] + wd*w[j]
				b[j] = m*b[j] + gj
				gj += m * b[j]
				w[j] -= lr * gj
			}
		default:
			b := o.state1[i][lo:hi]
			b = b[:len(w)]
			for j := range w {
				gj := g[j] + wd*w[j]
				b[j] = m*b[j] + gj
				w[j] -= lr * b[j]
			}
		}
	case "adam":
		b1, b2, eps := float32(o.beta1), float32(o.beta2), float32(o.eps)
		c1 := float32(1 - math.Pow(o.beta1, float64(o.t)))
		c2 := float32(math.Sqrt(1 - math.Pow(o.beta2, float64(o.t))))
		step := lr / c1
		m, v := o.state1[i][lo:hi], o.state2[i][lo:hi]
		m, v = m[:len(w)], v[:len(w)]
		for j := range w {
			gj := g[j] + wd*w[j]
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			w[j] -= step * m[j] / (float32(math.Sqrt(float64(v[j])))/c2 + eps)
		}
	}
}
