package engine

import (
	"fmt"
	"hash"
	"math"

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
				if s32, ok := any(src).([]float32); ok {
					pool2x2f32(op.w, op.outH, op.outW, s32, any(dst).([]float32), arg)
				} else {
					pool2x2(op.w, op.outH, op.outW, src, dst, arg)
				}
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

// pool2x2f32 is pool2x2 for float32 without branches on the data, which
// random activations make the CPU mispredict half the time (14 ns an
// output). It compares order keys (orderKey), integers the compiler
// selects with conditional moves, and keeps the winner's own bits: the
// same outputs and positions, bit for bit, for any data without NaNs. (A
// positive NaN wins its window here, a negative one loses; in pool2x2 a
// NaN wins only when it comes first. Either way a NaN reaches pooling with
// company: the batch norm or dense layer before it spreads one NaN over
// its whole channel, and then every window is NaN.)
func pool2x2f32(w, outH, outW int, src, dst []float32, arg []int32) {
	for oy := 0; oy < outH; oy++ {
		top := src[2*oy*w : 2*oy*w+2*outW]
		bot := src[(2*oy+1)*w : (2*oy+1)*w+2*outW]
		d, a := dst[oy*outW:(oy+1)*outW], arg[oy*outW:(oy+1)*outW]
		base := int32(2 * oy * w)
		for ox := range d {
			t0, t1 := math.Float32bits(top[2*ox]), math.Float32bits(top[2*ox+1])
			b0, b1 := math.Float32bits(bot[2*ox]), math.Float32bits(bot[2*ox+1])
			best, bits, key := int32(2*ox), t0, orderKey(t0)
			if k := orderKey(t1); k > key {
				best, bits, key = int32(2*ox+1), t1, k
			}
			if k := orderKey(b0); k > key {
				best, bits, key = int32(w+2*ox), b0, k
			}
			if k := orderKey(b1); k > key {
				best, bits = int32(w+2*ox+1), b1
			}
			d[ox], a[ox] = math.Float32frombits(bits), base+best
		}
	}
}

// orderKey maps a float32's bits to an integer that orders as the floats
// do, with -0 and +0 equal: a negative float's magnitude bits are flipped
// (larger magnitudes come lower) and 1 added, so -0 lands on +0's key 0.
// NaNs land beyond the infinities of their sign: a positive NaN above
// +Inf, a negative one (amd64's own, from Inf-Inf) below -Inf.
func orderKey(bits uint32) int32 {
	k := int32(bits)
	s := k >> 31 // -1 for negative floats, else 0
	return k ^ (s & 0x7fffffff) - s
}

// nanMask is all ones for a NaN's bits, else 0.
func nanMask(bits uint32) uint32 {
	return uint32((0x7f800000 - int32(bits&0x7fffffff)) >> 31)
}
