package engine

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolOp takes the maximum of each k x k window (stride s, no padding)
// of x (B,C,H,W), remembering where each maximum came from so that the
// gradient is a scatter. Like gorgonia's MaxPool2D, the first strict
// maximum in row-major order wins, so the numbers are the same; unlike it,
// the gradient reuses the forward pass's indices instead of searching again.
type maxPoolOp struct {
	opBase
	buf                               outBuf // the output, reused every step
	b, c, h, w, k, stride, outH, outW int
	argmax                            []int32 // per output: index within its input plane
}

// maxPool2d adds max pooling to x's graph.
func maxPool2d(x *G.Node, k, stride int) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("maxpool2d: input must be (N, C, H, W), got %v", s)
	}
	op := &maxPoolOp{b: s[0], c: s[1], h: s[2], w: s[3], k: k, stride: stride}
	op.outH, op.outW = (op.h-k)/stride+1, (op.w-k)/stride+1
	op.argmax = make([]int32, op.b*op.c*op.outH*op.outW)
	return G.ApplyOp(op, x)
}

func (op *maxPoolOp) Arity() int { return 1 }
func (op *maxPoolOp) Type() hm.Type {
	t := tensor4()
	return hm.NewFnType(t, t)
}
func (op *maxPoolOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.b, op.c, op.outH, op.outW}, nil
}
func (op *maxPoolOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "nnx.maxpool(%d,%d)@%p", op.k, op.stride, op)
}
func (op *maxPoolOp) Hashcode() uint32 { return hashOf(op) }
func (op *maxPoolOp) String() string {
	return fmt.Sprintf("nnx.maxpool(%d, stride %d)", op.k, op.stride)
}

func (op *maxPoolOp) Do(in ...G.Value) (G.Value, error) {
	s, _ := op.InferShape()
	return op.UsePreallocDo(op.buf.get(in[0].Dtype(), s...), in...)
}

func (op *maxPoolOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch y := prealloc.Data().(type) {
	case []float32:
		poolForward(op, f32(in[0]), y)
	case []float64:
		poolForward(op, f64(in[0]), y)
	default:
		return nil, fmt.Errorf("nnx.maxpool: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

func poolForward[T float](op *maxPoolOp, x, y []T) {
	plane, out := op.h*op.w, op.outH*op.outW
	parallelFor(op.b*op.c, elemGrain/plane, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src, dst, arg := x[p*plane:(p+1)*plane], y[p*out:(p+1)*out], op.argmax[p*out:(p+1)*out]
			if op.k == 2 && op.stride == 2 {
				pool2x2(op.w, op.outH, op.outW, src, dst, arg)
				continue
			}
			for oy := 0; oy < op.outH; oy++ {
				for ox := 0; ox < op.outW; ox++ {
					best := oy*op.stride*op.w + ox*op.stride
					for i := 0; i < op.k; i++ {
						row := (oy*op.stride+i)*op.w + ox*op.stride
						for j := 0; j < op.k; j++ {
							if src[row+j] > src[best] {
								best = row + j
							}
						}
					}
					dst[oy*op.outW+ox], arg[oy*op.outW+ox] = src[best], int32(best)
				}
			}
		}
	})
}

// pool2x2 is poolForward's common case, a 2x2 window with stride 2, on one
// plane of width w: the same comparisons in the same order (top left, top
// right, bottom left, bottom right; the first maximum wins), unrolled.
func pool2x2[T float](w, outH, outW int, src, dst []T, arg []int32) {
	for oy := 0; oy < outH; oy++ {
		top := src[2*oy*w : 2*oy*w+2*outW]
		bot := src[(2*oy+1)*w : (2*oy+1)*w+2*outW]
		d, a := dst[oy*outW:(oy+1)*outW], arg[oy*outW:(oy+1)*outW]
		for ox := range d {
			best, v := 2*ox, top[2*ox]
			if top[2*ox+1] > v {
				best, v = 2*ox+1, top[2*ox+1]
			}
			if bot[2*ox] > v {
				best, v = w+2*ox, bot[2*ox]
			}
			if bot[2*ox+1] > v {
				best, v = w+2*ox+1, bot[2*ox+1]
			}
			d[ox], a[ox] = v, int32(2*oy*w+best)
		}
	}
}

func (op *maxPoolOp) DiffWRT(int) []bool { return []bool{true} }

func (op *maxPoolOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&maxPoolGradOp{fwd: op}, grad)
	return G.Nodes{d}, err
}

// maxPoolGradOp sends each output's gradient to the input its maximum came
// from.
type maxPoolGradOp struct {
	opBase
	buf outBuf // the output, reused every step
	fwd *maxPoolOp
}

func (op *maxPoolGradOp) Arity() int { return 1 }
func (op *maxPoolGradOp) Type() hm.Type {
	t := tensor4()
	return hm.NewFnType(t, t)
}
func (op *maxPoolGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	f := op.fwd
	return tensor.Shape{f.b, f.c, f.h, f.w}, nil
}
func (op *maxPoolGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnx.maxpoolgrad@%p", op.fwd) }
func (op *maxPoolGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPoolGradOp) String() string        { return "nnx.maxpoolgrad" }

func (op *maxPoolGradOp) Do(in ...G.Value) (G.Value, error) {
	s, _ := op.InferShape()
	return op.UsePreallocDo(op.buf.get(in[0].Dtype(), s...), in...)
}

func (op *maxPoolGradOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch dx := prealloc.Data().(type) {
	case []float32:
		poolBackward(op.fwd, f32(in[0]), dx)
	case []float64:
		poolBackward(op.fwd, f64(in[0]), dx)
	default:
		return nil, fmt.Errorf("nnx.maxpoolgrad: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

func poolBackward[T float](op *maxPoolOp, dy, dx []T) {
	plane, out := op.h*op.w, op.outH*op.outW
	parallelFor(op.b*op.c, elemGrain/plane, func(lo, hi int) {
		clear(dx[lo*plane : hi*plane])
		for p := lo; p < hi; p++ {
			d, g, arg := dx[p*plane:(p+1)*plane], dy[p*out:(p+1)*out], op.argmax[p*out:(p+1)*out]
			for i, v := range g {
				d[arg[i]] += v
			}
		}
	})
}
