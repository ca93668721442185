// Package predict runs trained networks in plain Go, without gorgonia: a
// Model compiled from a model.Spec and its tensors answers many concurrent
// callers, each with scratch memory from a pool, and gives the same class
// probabilities as the engine's evaluation graph (batch norm on running
// statistics, dropout off, softmax on the last layer's logits).
package predict

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/nnx-dev/nnx/pkg/model"
)

// bnEpsilon is the batch-norm epsilon under the square root, as the engine's.
const bnEpsilon = 1e-5

// parallelMin is the batch size from which Predict spreads examples over
// goroutines.
const parallelMin = 16

// Model is a compiled network. It is safe for concurrent use.
type Model struct {
	spec    model.Spec
	inSize  int
	classes int
	layers  []layer
	maxSize int       // the largest activation, in values
	pool    sync.Pool // *scratch
}

// scratch is one caller's working memory: two activation buffers.
type scratch struct{ a, b []float32 }

// layer computes one layer for one example. It reads in and returns its
// output: out (of at least its output size) or in itself, updated in place.
type layer interface {
	forward(in, out []float32) []float32
}

// New compiles spec with its tensors (matched by name, as
// model.Spec.Params names them; extra tensors are an error).
func New(spec model.Spec, weights []model.Tensor) (*Model, error) {
	shapes, err := spec.Shapes()
	if err != nil {
		return nil, err
	}
	params, err := spec.Params()
	if err != nil {
		return nil, err
	}
	byName := map[string][]float32{}
	for _, t := range weights {
		byName[t.Name] = t.Data
	}
	get := map[int][][]float32{} // layer index -> its tensors in Params order
	for _, p := range params {
		d, ok := byName[p.Name]
		if !ok {
			return nil, fmt.Errorf("predict: no tensor %s", p.Name)
		}
		if len(d) != model.Shape(p.Shape).Size() {
			return nil, fmt.Errorf("predict: tensor %s has %d values, shape %v needs %d", p.Name, len(d), p.Shape, model.Shape(p.Shape).Size())
		}
		get[p.Layer] = append(get[p.Layer], d)
		delete(byName, p.Name)
	}
	for n := range byName {
		return nil, fmt.Errorf("predict: tensor %s is not a parameter of the model", n)
	}
	m := &Model{spec: spec, inSize: spec.Input.Size(), classes: spec.Classes, maxSize: spec.Input.Size()}
	in := spec.Input
	for i, l := range spec.Layers {
		out := shapes[i]
		m.maxSize = max(m.maxSize, out.Size())
		ws := get[i]
		switch l.Kind {
		case model.Dense:
			m.layers = append(m.layers, newDense(ws[0], ws[1], in[0], l.Units))
		case model.Conv2D:
			c := &conv{w: copyOf(ws[0]), b: copyOf(ws[1]), inC: in[0], inH: in[1], inW: in[2],
				outC: out[0], outH: out[1], outW: out[2], k: l.Kernel, stride: l.EffectiveStride(), pad: l.Padding}
			m.maxSize = max(m.maxSize, c.wideSize())
			m.layers = append(m.layers, c)
		case model.MaxPool2D:
			m.layers = append(m.layers, &maxPool{c: in[0], inH: in[1], inW: in[2], outH: out[1], outW: out[2],
				k: l.Kernel, stride: l.EffectiveStride()})
		case model.BatchNorm:
			m.layers = append(m.layers, newBatchNorm(ws[0], ws[1], ws[2], ws[3], in))
		case model.ReLU:
			m.layers = append(m.layers, relu{})
		case model.Tanh:
			m.layers = append(m.layers, tanh{})
		case model.Sigmoid:
			m.layers = append(m.layers, sigmoid{})
		case model.Softmax:
			m.layers = append(m.layers, softmaxLayer{})
		case model.Dropout, model.Flatten:
			// The identity at evaluation; flatten keeps the (C, H, W) order.
		default:
			return nil, fmt.Errorf("predict: layers[%d] %s is not supported", i, l.Kind)
		}
		in = out
	}
	m.pool.New = func() any {
		return &scratch{a: make([]float32, m.maxSize), b: make([]float32, m.maxSize)}
	}
	return m, nil
}

func copyOf(x []float32) []float32 { return append([]float32(nil), x...) }

// Spec is the network the model runs.
func (m *Model) Spec() model.Spec { return m.spec }

// InputSize is the number of values of one example.
func (m *Model) InputSize() int { return m.inSize }

// Classes is the number of probabilities per example.
func (m *Model) Classes() int { return m.classes }

// Predict writes the class probabilities of the examples in x (network
// inputs, already preprocessed, InputSize values each) into probs (Classes
// values each). Large batches are spread over the available cores.
func (m *Model) Predict(x, probs []float32) error {
	n := len(x) / m.inSize
	if len(x) != n*m.inSize || len(probs) != n*m.classes {
		return fmt.Errorf("predict: %d values are not whole examples of %d, or %d probabilities do not fit %d examples of %d classes",
			len(x), m.inSize, len(probs), n, m.classes)
	}
	workers := min(runtime.GOMAXPROCS(0), n/parallelMin+1)
	if workers <= 1 {
		m.run(x, probs, n)
		return nil
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for start := 0; start < n; start += per {
		end := min(n, start+per)
		wg.Go(func() {
			m.run(x[start*m.inSize:end*m.inSize], probs[start*m.classes:end*m.classes], end-start)
		})
	}
	wg.Wait()
	return nil
}

// run predicts n examples with one scratch.
func (m *Model) run(x, probs []float32, n int) {
	s := m.pool.Get().(*scratch)
	for i := range n {
		m.one(x[i*m.inSize:(i+1)*m.inSize], probs[i*m.classes:(i+1)*m.classes], s)
	}
	m.pool.Put(s)
}

// one runs the layers on one example and writes the softmax of the logits.
func (m *Model) one(x, probs []float32, s *scratch) {
	bufs := [2][]float32{s.a, s.b}
	k := 0 // cur lives in bufs[k]
	cur := bufs[0][:m.inSize]
	copy(cur, x)
	for _, l := range m.layers {
		next := l.forward(cur, bufs[1-k])
		if &next[0] != &cur[0] {
			k = 1 - k
		}
		cur = next
	}
	softmax(cur, probs)
}

// Top returns the most probable class and its probability (the first on
// ties).
func Top(probs []float32) (int, float32) {
	best := 0
	for i, p := range probs {
		if p > probs[best] {
			best = i
		}
	}
	return best, probs[best]
}

// softmax writes the softmax of logits into out.
func softmax(logits, out []float32) {
	mx := logits[0]
	for _, v := range logits {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range logits {
		e := math.Exp(float64(v - mx))
		out[i] = float32(e)
		sum += e
	}
	for i := range out[:len(logits)] {
		out[i] = float32(float64(out[i]) / sum)
	}
}

// saxpy is y += a*x over n values of x taken every incX, with gonum's
// assembly kernels (its pure-Go BLAS, not the swappable blas32 one).
func saxpy(n int, a float32, x []float32, incX int, y []float32) {
	gonum.Implementation{}.Saxpy(n, a, x, incX, y, 1)
}

// dense is x·W + b with W of shape [in, out], kept also transposed: a
// mostly-zero input (an image, a ReLU's output) is cheapest as one axpy
// per non-zero input, a dense one as one dot product per output.
type dense struct {
	w, wt, b []float32
	in, out  int
}

func newDense(w, b []float32, in, out int) *dense {
	d := &dense{w: copyOf(w), wt: make([]float32, len(w)), b: copyOf(b), in: in, out: out}
	for i := range in {
		for j := range out {
			d.wt[j*in+i] = w[i*out+j]
		}
	}
	return d
}

func (d *dense) forward(in, out []float32) []float32 {
	x, y := in[:d.in], out[:d.out]
	nonzero := 0
	for _, v := range x {
		if v != 0 {
			nonzero++
		}
	}
	if 2*nonzero > d.in {
		for j := range y {
			y[j] = d.b[j] + sdot(x, d.wt[j*d.in:(j+1)*d.in])
		}
		return y
	}
	copy(y, d.b)
	for i, xi := range x {
		if xi != 0 {
			saxpy(d.out, xi, d.w[i*d.out:(i+1)*d.out], 1, y)
		}
	}
	return y
}

// sdot is the dot product of x and y, with gonum's assembly kernel.
func sdot(x, y []float32) float32 {
	return gonum.Implementation{}.Sdot(len(x), x, 1, y, 1)
}

// conv is a 2-D cross-correlation with zero padding and a bias per filter;
// W has shape [outC, inC, k, k].
type conv struct {
	w, b                        []float32
	inC, inH, inW               int
	outC, outH, outW, k, stride int
	pad                         int
}

func (c *conv) forward(in, out []float32) []float32 {
	if c.stride == 1 && c.pad == 0 {
		return c.forwardWide(in, out)
	}
	plane := c.outH * c.outW
	y := out[:c.outC*plane]
	for f := range c.outC {
		yf := y[f*plane : (f+1)*plane]
		for i := range yf {
			yf[i] = c.b[f]
		}
		for ch := range c.inC {
			xc := in[ch*c.inH*c.inW : (ch+1)*c.inH*c.inW]
			for ky := range c.k {
				for kx := range c.k {
					w := c.w[((f*c.inC+ch)*c.k+ky)*c.k+kx]
					if w == 0 {
						continue
					}
					// Output columns whose input column ox*stride+kx-pad lies inside the image.
					ox0 := ceilDiv(c.pad-kx, c.stride)
					ox1 := (c.inW - 1 + c.pad - kx) / c.stride // inclusive
					ox0, ox1 = max(ox0, 0), min(ox1, c.outW-1)
					if ox0 > ox1 {
						continue
					}
					cols := ox1 - ox0 + 1
					for oy := range c.outH {
						iy := oy*c.stride + ky - c.pad
						if iy < 0 || iy >= c.inH {
							continue
						}
						ix := ox0*c.stride + kx - c.pad
						saxpy(cols, w, xc[iy*c.inW+ix:], c.stride, yf[oy*c.outW+ox0:])
					}
				}
			}
		}
	}
	return y
}

// wideSize is the scratch forwardWide needs.
func (c *conv) wideSize() int { return c.outC * c.outH * c.inW }

// forwardWide is forward for stride 1 without padding: each filter's
// output is computed with rows as wide as the input's, so that every
// kernel tap is a single axpy over the whole plane, and the columns past
// the output's width (which read across row ends) are dropped at the end.
func (c *conv) forwardWide(in, out []float32) []float32 {
	wide := c.outH * c.inW
	n := (c.outH-1)*c.inW + c.outW // values each tap touches
	for f := range c.outC {
		yf := out[f*wide : (f+1)*wide]
		for i := range yf {
			yf[i] = c.b[f]
		}
		for ch := range c.inC {
			xc := in[ch*c.inH*c.inW : (ch+1)*c.inH*c.inW]
			for ky := range c.k {
				for kx := range c.k {
					if w := c.w[((f*c.inC+ch)*c.k+ky)*c.k+kx]; w != 0 {
						saxpy(n, w, xc[ky*c.inW+kx:], 1, yf)
					}
				}
			}
		}
	}
	// Compact rows of width inW to width outW, in place: every row moves
	// to a lower index, so copying in order never overwrites unread data.
	for r := range c.outC * c.outH {
		copy(out[r*c.outW:(r+1)*c.outW], out[r*c.inW:r*c.inW+c.outW])
	}
	return out[:c.outC*c.outH*c.outW]
}

// ceilDiv is the ceiling of a/b for b > 0.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -((-a) / b)
	}
	return (a + b - 1) / b
}

// maxPool takes the maximum of each k x k window, without padding.
type maxPool struct {
	c, inH, inW, outH, outW, k, stride int
}

func (p *maxPool) forward(in, out []float32) []float32 {
	y := out[:p.c*p.outH*p.outW]
	for ch := range p.c {
		xc := in[ch*p.inH*p.inW : (ch+1)*p.inH*p.inW]
		yc := y[ch*p.outH*p.outW : (ch+1)*p.outH*p.outW]
		if p.k == 2 && p.stride == 2 { // the common case, unrolled
			for oy := range p.outH {
				r0 := xc[2*oy*p.inW : (2*oy+1)*p.inW]
				r1 := xc[(2*oy+1)*p.inW : (2*oy+2)*p.inW]
				yr := yc[oy*p.outW : (oy+1)*p.outW]
				for ox := range yr {
					yr[ox] = max(r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1])
				}
			}
			continue
		}
		for oy := range p.outH {
			for ox := range p.outW {
				iy, ix := oy*p.stride, ox*p.stride
				mx := float32(math.Inf(-1))
				for ky := range p.k {
					row := xc[(iy+ky)*p.inW+ix : (iy+ky)*p.inW+ix+p.k]
					for _, v := range row {
						mx = max(mx, v)
					}
				}
				yc[oy*p.outW+ox] = mx
			}
		}
	}
	return y
}

// batchNorm applies y = x*a[c] + b[c] per channel, in place: the running
// statistics, scale and shift folded together.
type batchNorm struct {
	a, b    []float32
	spatial int // values per channel
}

func newBatchNorm(scale, shift, mean, variance []float32, in model.Shape) *batchNorm {
	bn := &batchNorm{spatial: 1}
	if len(in) == 3 {
		bn.spatial = in[1] * in[2]
	}
	for c := range in[0] {
		inv := 1 / float32(math.Sqrt(float64(variance[c]+bnEpsilon)))
		a := inv * scale[c]
		bn.a = append(bn.a, a)
		bn.b = append(bn.b, shift[c]-mean[c]*a)
	}
	return bn
}

func (bn *batchNorm) forward(in, _ []float32) []float32 {
	for c, a := range bn.a {
		b := bn.b[c]
		x := in[c*bn.spatial : (c+1)*bn.spatial]
		for i, v := range x {
			x[i] = v*a + b
		}
	}
	return in[:len(bn.a)*bn.spatial]
}

type relu struct{}

func (relu) forward(in, _ []float32) []float32 {
	for i, v := range in {
		if v < 0 {
			in[i] = 0
		}
	}
	return in
}

type tanh struct{}

func (tanh) forward(in, _ []float32) []float32 {
	for i, v := range in {
		in[i] = float32(math.Tanh(float64(v)))
	}
	return in
}

type sigmoid struct{}

func (sigmoid) forward(in, _ []float32) []float32 {
	for i, v := range in {
		in[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
	return in
}

// softmaxLayer is a softmax inside the network (the last layer's is
// applied by Predict).
type softmaxLayer struct{}

func (softmaxLayer) forward(in, out []float32) []float32 {
	softmax(in, out[:len(in)])
	return out[:len(in)]
}
