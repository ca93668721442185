package engine

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// xentOp is the mean softmax cross-entropy of logits (B, C) against one-hot
// targets (B, C), in one numerically stable pass that keeps the softmax for
// the gradient, (softmax - y) / B. Built from gorgonia's LogSoftMax,
// HadamardProd, Sum, Mean and Neg it took ten ops per step.
type xentOp struct {
	opBase
	batch, classes int
	p32            []float32 // softmax of the last forward pass
	p64            []float64
}

// crossEntropyOp adds the loss to the logits' graph.
func crossEntropyOp(logits, y *G.Node) (*G.Node, error) {
	s := logits.Shape()
	if len(s) != 2 || !s.Eq(y.Shape()) {
		return nil, fmt.Errorf("cross-entropy: logits %v and targets %v do not fit", s, y.Shape())
	}
	return G.ApplyOp(&xentOp{batch: s[0], classes: s[1]}, logits, y)
}

func (op *xentOp) Arity() int { return 2 }
func (op *xentOp) Type() hm.Type {
	t := matrix()
	return hm.NewFnType(t, t, hm.TypeVariable('a'))
}
func (op *xentOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *xentOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "nnx.xent@%p", op) }
func (op *xentOp) Hashcode() uint32                               { return hashOf(op) }
func (op *xentOp) String() string                                 { return "nnx.xent" }

func (op *xentOp) Do(in ...G.Value) (G.Value, error) {
	switch z := in[0].Data().(type) {
	case []float32:
		if len(op.p32) != len(z) {
			op.p32 = make([]float32, len(z))
		}
		return G.NewF32(float32(xentForward(op, z, f32(in[1]), op.p32))), nil
	case []float64:
		if len(op.p64) != len(z) {
			op.p64 = make([]float64, len(z))
		}
		return G.NewF64(xentForward(op, z, f64(in[1]), op.p64)), nil
	}
	return nil, fmt.Errorf("nnx.xent: unsupported dtype %v", in[0].Dtype())
}

func xentForward[T float](op *xentOp, z, y, p []T) float64 {
	var loss float64
	for r := 0; r < op.batch; r++ {
		row, pr, yr := z[r*op.classes:(r+1)*op.classes], p[r*op.classes:(r+1)*op.classes], y[r*op.classes:(r+1)*op.classes]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var sum float64
		for i, v := range row {
			e := math.Exp(float64(v - m))
			pr[i] = T(e)
			sum += e
		}
		lse := float64(m) + math.Log(sum)
		for i, v := range row {
			pr[i] = T(float64(pr[i]) / sum)
			if yr[i] != 0 {
				loss += float64(yr[i]) * (lse - float64(v))
			}
		}
	}
	return loss / float64(op.batch)
}

func (op *xentOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *xentOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&xentGradOp{fwd: op}, inputs[1], grad)
	return G.Nodes{d, nil}, err
}

// xentGradOp is the loss's gradient with respect to the logits, from the
// targets and the incoming scalar gradient.
type xentGradOp struct {
	opBase
	buf outBuf // the output, reused every step
	fwd *xentOp
}

func (op *xentGradOp) Arity() int { return 2 }
func (op *xentGradOp) Type() hm.Type {
	t := matrix()
	return hm.NewFnType(t, hm.TypeVariable('a'), t)
}
func (op *xentGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.fwd.batch, op.fwd.classes}, nil
}
func (op *xentGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnx.xentgrad@%p", op.fwd) }
func (op *xentGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *xentGradOp) String() string        { return "nnx.xentgrad" }

func (op *xentGradOp) Do(in ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(op.buf.get(in[0].Dtype(), op.fwd.batch, op.fwd.classes), in...)
}

func (op *xentGradOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch out := prealloc.Data().(type) {
	case []float32:
		g, y := float32(*(in[1].(*G.F32))), f32(in[0])
		for i, p := range op.fwd.p32 {
			out[i] = (p - y[i]) * g / float32(op.fwd.batch)
		}
	case []float64:
		g, y := float64(*(in[1].(*G.F64))), f64(in[0])
		for i, p := range op.fwd.p64 {
			out[i] = (p - y[i]) * g / float64(op.fwd.batch)
		}
	default:
		return nil, fmt.Errorf("nnx.xentgrad: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}
