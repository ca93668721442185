package engine

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// denseOp computes y = x·W + b for x (B, in), W (in, out), b (1, out) as
// one GEMM with the bias preloaded into y. gorgonia's Mul + BroadcastAdd
// take two ops forward and three back, and copy the bias to the batch's
// size; at MLP sizes those per-op costs were most of a step.
type denseOp struct {
	opBase
	buf            outBuf // the output, reused every step
	batch, in, out int
	noDX           bool // x is the data: its gradient is never used
}

// dense adds x·W + b to x's graph. fromData says x is the network's input
// (or a reshape of it), whose gradient nothing needs.
func dense(x, w, b *G.Node, fromData bool) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[0] {
		return nil, fmt.Errorf("dense: input %v and weights %v do not fit", xs, ws)
	}
	return G.ApplyOp(&denseOp{batch: xs[0], in: ws[0], out: ws[1], noDX: fromData}, x, w, b)
}

func matrix() hm.Type { return &G.TensorType{Dims: 2, Of: hm.TypeVariable('a')} }

func (op *denseOp) Arity() int { return 3 }
func (op *denseOp) Type() hm.Type {
	t := matrix()
	return hm.NewFnType(t, t, t, t)
}
func (op *denseOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.batch, op.out}, nil
}
func (op *denseOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "nnx.dense(%d,%d,%d)@%p", op.batch, op.in, op.out, op)
}
func (op *denseOp) Hashcode() uint32 { return hashOf(op) }
func (op *denseOp) String() string   { return fmt.Sprintf("nnx.dense(%d→%d)", op.in, op.out) }

func (op *denseOp) Do(in ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(op.buf.get(in[0].Dtype(), op.batch, op.out), in...)
}

func (op *denseOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch y := prealloc.Data().(type) {
	case []float32:
		denseForward(op, G.WhichBLAS().Sgemm, f32(in[0]), f32(in[1]), f32(in[2]), y)
	case []float64:
		denseForward(op, G.WhichBLAS().Dgemm, f64(in[0]), f64(in[1]), f64(in[2]), y)
	default:
		return nil, fmt.Errorf("nnx.dense: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

func denseForward[T float](op *denseOp, gemm gemmFn[T], x, w, b, y []T) {
	for r := 0; r < op.batch; r++ {
		copy(y[r*op.out:(r+1)*op.out], b)
	}
	gemm(blas.NoTrans, blas.NoTrans, op.batch, op.out, op.in, 1, x, op.in, w, op.out, 1, y, op.out)
}

func (op *denseOp) DiffWRT(int) []bool { return []bool{!op.noDX, true, true} }

func (op *denseOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	var dx *G.Node
	if !op.noDX {
		var err error
		if dx, err = G.ApplyOp(&denseGradOp{fwd: op, wrt: 0}, inputs[1], grad); err != nil {
			return nil, err
		}
	}
	dw, err := G.ApplyOp(&denseGradOp{fwd: op, wrt: 1}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(&denseGradOp{fwd: op, wrt: 2}, inputs[2], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

// denseGradOp is one gradient of denseOp from (other, dy): wrt 0 the input
// (other = W), 1 the weights (other = x), 2 the bias (other = b, for its
// shape only).
type denseGradOp struct {
	opBase
	buf outBuf // the output, reused every step
	fwd *denseOp
	wrt int
}

func (op *denseGradOp) Arity() int { return 2 }
func (op *denseGradOp) Type() hm.Type {
	t := matrix()
	return hm.NewFnType(t, t, t)
}
func (op *denseGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	switch op.wrt {
	case 0:
		return tensor.Shape{op.fwd.batch, op.fwd.in}, nil
	case 1:
		return tensor.Shape{op.fwd.in, op.fwd.out}, nil
	}
	return tensor.Shape{1, op.fwd.out}, nil
}
func (op *denseGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnx.densegrad%d@%p", op.wrt, op.fwd) }
func (op *denseGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *denseGradOp) String() string        { return fmt.Sprintf("nnx.densegrad(%d)", op.wrt) }

func (op *denseGradOp) Do(in ...G.Value) (G.Value, error) {
	s, _ := op.InferShape()
	return op.UsePreallocDo(op.buf.get(in[1].Dtype(), s...), in...)
}

func (op *denseGradOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch out := prealloc.Data().(type) {
	case []float32:
		denseBackward(op.fwd, op.wrt, G.WhichBLAS().Sgemm, f32(in[0]), f32(in[1]), out)
	case []float64:
		denseBackward(op.fwd, op.wrt, G.WhichBLAS().Dgemm, f64(in[0]), f64(in[1]), out)
	default:
		return nil, fmt.Errorf("nnx.densegrad: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

// denseBackward: dx = dy·Wᵀ, dW = xᵀ·dy, db = Σ_rows dy.
func denseBackward[T float](op *denseOp, wrt int, gemm gemmFn[T], other, dy, out []T) {
	switch wrt {
	case 0:
		gemm(blas.NoTrans, blas.Trans, op.batch, op.in, op.out, 1, dy, op.out, other, op.out, 0, out, op.in)
	case 1:
		gemm(blas.Trans, blas.NoTrans, op.in, op.out, op.batch, 1, other, op.in, dy, op.out, 0, out, op.out)
	case 2:
		clear(out)
		for r := 0; r < op.batch; r++ {
			for j, v := range dy[r*op.out : (r+1)*op.out] {
				out[j] += v
			}
		}
	}
}
