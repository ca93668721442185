package engine

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// reluOp is max(x, 0) as one op. gorgonia's Rectify builds a comparison
// mask and multiplies by it, allocating the mask forward and backward; this
// writes the output directly, and its gradient passes dy where y > 0.
type reluOp struct {
	opBase
	buf  outBuf // the output, reused every step
	dims int
}

// relu adds max(x, 0) to x's graph.
func relu(x *G.Node) (*G.Node, error) { return G.ApplyOp(&reluOp{dims: x.Dims()}, x) }

func (op *reluOp) Arity() int { return 1 }
func (op *reluOp) Type() hm.Type {
	t := &G.TensorType{Dims: op.dims, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t)
}
func (op *reluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *reluOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnx.relu@%p", op) }
func (op *reluOp) Hashcode() uint32      { return hashOf(op) }
func (op *reluOp) String() string        { return "nnx.relu" }

func (op *reluOp) Do(in ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(op.buf.get(in[0].Dtype(), in[0].Shape()...), in...)
}

func (op *reluOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch y := prealloc.Data().(type) {
	case []float32:
		reluForward(f32(in[0]), y)
	case []float64:
		reluForward(f64(in[0]), y)
	default:
		return nil, fmt.Errorf("nnx.relu: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

func reluForward[T float](x, y []T) {
	if x32, ok := any(x).([]float32); ok {
		y32 := any(y).([]float32)
		parallelFor(len(x), elemGrain, func(lo, hi int) { reluForwardF32(x32[lo:hi], y32[lo:hi]) })
		return
	}
	parallelFor(len(x), elemGrain, func(lo, hi int) {
		for i, v := range x[lo:hi] {
			y[lo+i] = max(v, 0)
		}
	})
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&reluGradOp{dims: op.dims}, output, grad)
	return G.Nodes{d}, err
}

// reluGradOp passes dy where the forward output y is positive.
type reluGradOp struct {
	opBase
	buf  outBuf // the output, reused every step
	dims int
}

func (op *reluGradOp) Arity() int { return 2 }
func (op *reluGradOp) Type() hm.Type {
	t := &G.TensorType{Dims: op.dims, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t)
}
func (op *reluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *reluGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnx.relugrad@%p", op) }
func (op *reluGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *reluGradOp) String() string        { return "nnx.relugrad" }

func (op *reluGradOp) Do(in ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(op.buf.get(in[0].Dtype(), in[0].Shape()...), in...)
}

func (op *reluGradOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch dx := prealloc.Data().(type) {
	case []float32:
		reluBackward(f32(in[0]), f32(in[1]), dx)
	case []float64:
		reluBackward(f64(in[0]), f64(in[1]), dx)
	default:
		return nil, fmt.Errorf("nnx.relugrad: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

func reluBackward[T float](y, dy, dx []T) {
	if y32, ok := any(y).([]float32); ok {
		dy32, dx32 := any(dy).([]float32), any(dx).([]float32)
		parallelFor(len(y), elemGrain, func(lo, hi int) { reluBackwardF32(y32[lo:hi], dy32[lo:hi], dx32[lo:hi]) })
		return
	}
	parallelFor(len(y), elemGrain, func(lo, hi int) {
		dy, dx := dy[lo:hi], dx[lo:hi]
		for i, v := range y[lo:hi] {
			if v > 0 {
				dx[i] = dy[i]
			} else {
				dx[i] = 0
			}
		}
	})
}

// reluForwardF32 is reluForward for float32 without Go's max: x's bits are
// kept where x > 0 (orderKey) or x is a NaN of either sign (nanMask, so a
// diverging loss shows at once) and cleared to +0 elsewhere: max(x, 0) bit
// for bit for any x without NaNs.
func reluForwardF32(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		b := math.Float32bits(v)
		y[i] = math.Float32frombits(b & (uint32((-orderKey(b))>>31) | nanMask(b)))
	}
}

// reluBackwardF32 is reluBackward for float32 without a branch on the data
// (random signs mispredict half the time): dy's bits are kept where y > 0
// and cleared to +0 elsewhere, as the branch does, bit for bit for any y
// without NaNs (where y is a NaN the loss is one too).
func reluBackwardF32(y, dy, dx []float32) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	for i, v := range y {
		k := orderKey(math.Float32bits(v))
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & uint32((-k)>>31))
	}
}
