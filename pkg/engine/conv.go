package engine

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// nnx's own convolution, in place of gorgonia's Conv2d: that one builds
// Im2Col, MatMul, Reshape and a Transpose to NCHW, then broadcasts the bias
// by copying it to the output's size, and those copies took a third of a
// CNN step. conv2dOp does the same arithmetic in one op that writes NCHW
// directly and adds the bias in place. Its gradients are three more ops.

// float is the element type the ops work in: float32 to train, float64 in
// the gradient checks.
type float interface{ ~float32 | ~float64 }

// convGeom is a convolution's shapes.
type convGeom struct {
	batch, inC, inH, inW int
	filters, k, stride   int
	pad, outH, outW      int
}

func (g convGeom) ckk() int { return g.inC * g.k * g.k }
func (g convGeom) p() int   { return g.outH * g.outW }

// conv2dOp computes y = conv(x, w) + b for x (B,C,H,W), w (F,C,k,k) and
// b (1,F,1,1).
type conv2dOp struct {
	opBase
	buf  outBuf // the output, reused every step
	noDX bool   // x is the data: its gradient is never used
	convGeom
	col32 []float32 // im2col of the last forward pass, reused by the weight gradient
	col64 []float64
}

// conv2d adds a convolution with bias to x's graph; fromData says x is the
// network's input, whose gradient nothing needs.
func conv2d(x, w, b *G.Node, stride, pad int, fromData bool) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1] || ws[2] != ws[3] {
		return nil, fmt.Errorf("conv2d: input %v and filters %v do not fit", xs, ws)
	}
	g := convGeom{batch: xs[0], inC: xs[1], inH: xs[2], inW: xs[3], filters: ws[0], k: ws[2], stride: stride, pad: pad}
	g.outH = (g.inH+2*pad-g.k)/stride + 1
	g.outW = (g.inW+2*pad-g.k)/stride + 1
	return G.ApplyOp(&conv2dOp{convGeom: g, noDX: fromData}, x, w, b)
}

func tensor4() hm.Type { return &G.TensorType{Dims: 4, Of: hm.TypeVariable('a')} }

func (op *conv2dOp) Arity() int { return 3 }
func (op *conv2dOp) Type() hm.Type {
	t := tensor4()
	return hm.NewFnType(t, t, t, t)
}
func (op *conv2dOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.batch, op.filters, op.outH, op.outW}, nil
}
func (op *conv2dOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnx.conv2d%+v@%p", op.convGeom, op) }
func (op *conv2dOp) Hashcode() uint32      { return hashOf(op) }
func (op *conv2dOp) String() string {
	return fmt.Sprintf("nnx.conv2d(%dx%d, stride %d, pad %d)", op.k, op.k, op.stride, op.pad)
}

// opBase holds what nnx's ops have in common: each returns a new value,
// calls nothing outside Go and overwrites none of its inputs.
type opBase struct{}

func (opBase) ReturnsPtr() bool     { return false }
func (opBase) CallsExtern() bool    { return false }
func (opBase) OverwritesInput() int { return -1 }

func hashOf(op G.Op) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *conv2dOp) Do(in ...G.Value) (G.Value, error) {
	out := op.buf.get(in[0].Dtype(), op.batch, op.filters, op.outH, op.outW)
	return op.UsePreallocDo(out, in...)
}

func (op *conv2dOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch y := prealloc.Data().(type) {
	case []float32:
		if len(op.col32) != op.ckk()*op.batch*op.p() {
			op.col32 = make([]float32, op.ckk()*op.batch*op.p())
		}
		convForward(op.convGeom, G.WhichBLAS().Sgemm, op.col32, f32(in[0]), f32(in[1]), f32(in[2]), y)
	case []float64:
		if len(op.col64) != op.ckk()*op.batch*op.p() {
			op.col64 = make([]float64, op.ckk()*op.batch*op.p())
		}
		convForward(op.convGeom, G.WhichBLAS().Dgemm, op.col64, f64(in[0]), f64(in[1]), f64(in[2]), y)
	default:
		return nil, fmt.Errorf("nnx.conv2d: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

func (op *conv2dOp) DiffWRT(int) []bool { return []bool{!op.noDX, true, true} }

func (op *conv2dOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, w, b := inputs[0], inputs[1], inputs[2]
	var dx *G.Node
	if !op.noDX {
		var err error
		if dx, err = G.ApplyOp(&convGradOp{fwd: op, wrt: 0}, w, grad); err != nil {
			return nil, err
		}
	}
	dw, err := G.ApplyOp(&convGradOp{fwd: op, wrt: 1}, x, grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(&convGradOp{fwd: op, wrt: 2}, b, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

func f32(v G.Value) []float32 { return v.Data().([]float32) }
func f64(v G.Value) []float64 { return v.Data().([]float64) }

type gemmFn[T float] func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// im2col lays out image b of x so that the convolution is one matrix
// product: col[(c*k+i)*k+j][b*P + oy*outW + ox] = x[b][c][oy*s+i-pad][ox*s+j-pad]
// (0 outside the image). Images write disjoint columns.
func im2col[T float](g convGeom, b int, x, col []T) {
	n := g.batch * g.p()
	for c := 0; c < g.inC; c++ {
		img := x[(b*g.inC+c)*g.inH*g.inW:]
		for i := 0; i < g.k; i++ {
			for j := 0; j < g.k; j++ {
				dst := col[((c*g.k+i)*g.k+j)*n+b*g.p():]
				for oy := 0; oy < g.outH; oy++ {
					iy := oy*g.stride + i - g.pad
					d := dst[oy*g.outW : (oy+1)*g.outW]
					if iy < 0 || iy >= g.inH {
						clear(d)
						continue
					}
					src := img[iy*g.inW:]
					if g.stride == 1 && g.pad == 0 {
						copy(d, src[j:j+g.outW])
						continue
					}
					for ox := range d {
						ix := ox*g.stride + j - g.pad
						if ix < 0 || ix >= g.inW {
							d[ox] = 0
						} else {
							d[ox] = src[ix]
						}
					}
				}
			}
		}
	}
}

// col2im adds image b's columns back onto the positions they came from,
// in dx's image b (zeroed first).
func col2im[T float](g convGeom, b int, col, dx []T) {
	n := g.batch * g.p()
	clear(dx[b*g.inC*g.inH*g.inW : (b+1)*g.inC*g.inH*g.inW])
	for c := 0; c < g.inC; c++ {
		img := dx[(b*g.inC+c)*g.inH*g.inW:]
		for i := 0; i < g.k; i++ {
			for j := 0; j < g.k; j++ {
				src := col[((c*g.k+i)*g.k+j)*n+b*g.p():]
				for oy := 0; oy < g.outH; oy++ {
					iy := oy*g.stride + i - g.pad
					if iy < 0 || iy >= g.inH {
						continue
					}
					dst := img[iy*g.inW:]
					s := src[oy*g.outW : (oy+1)*g.outW]
					for ox, v := range s {
						if ix := ox*g.stride + j - g.pad; ix >= 0 && ix < g.inW {
							dst[ix] += v
						}
					}
				}
			}
		}
	}
}

// convImageGrain is the least number of images worth a goroutine in the
// convolution's per-image loops.
func convImageGrain(g convGeom) int { return elemGrain / (g.filters*g.p() + g.ckk()*g.p()) }

// convForward: col = im2col(x); for each image, y[b] (F x P) = W (F x CKK) · col[:, b] + bias.
// Images are independent: they run side by side.
func convForward[T float](g convGeom, gemm gemmFn[T], col, x, w, bias, y []T) {
	n, p, f := g.batch*g.p(), g.p(), g.filters
	parallelFor(g.batch, convImageGrain(g), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			im2col(g, b, x, col)
			yb := y[b*f*p : (b+1)*f*p]
			for fi := 0; fi < f; fi++ {
				v := bias[fi]
				row := yb[fi*p : (fi+1)*p]
				for i := range row {
					row[i] = v
				}
			}
			// y_b = W · col[:, b*P:(b+1)*P] + y_b, col's leading dimension n.
			gemm(blas.NoTrans, blas.NoTrans, f, p, g.ckk(), 1, w, g.ckk(), col[b*p:], n, 1, yb, p)
		}
	})
}

// convGradOp is one gradient of conv2dOp: wrt 0 the input (from w and dy),
// 1 the filters (from x and dy), 2 the bias (from dy).
type convGradOp struct {
	opBase
	buf outBuf // the output, reused every step
	fwd *conv2dOp
	wrt int
	s32 []float32
	s64 []float64
}

func (op *convGradOp) Arity() int { return 2 }
func (op *convGradOp) Type() hm.Type {
	t := tensor4()
	return hm.NewFnType(t, t, t)
}
func (op *convGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	g := op.fwd.convGeom
	switch op.wrt {
	case 0:
		return tensor.Shape{g.batch, g.inC, g.inH, g.inW}, nil
	case 1:
		return tensor.Shape{g.filters, g.inC, g.k, g.k}, nil
	}
	return tensor.Shape{1, g.filters, 1, 1}, nil
}
func (op *convGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnx.conv2dgrad%d@%p", op.wrt, op.fwd) }
func (op *convGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *convGradOp) String() string        { return fmt.Sprintf("nnx.conv2dgrad(%d)", op.wrt) }

func (op *convGradOp) Do(in ...G.Value) (G.Value, error) {
	s, _ := op.InferShape()
	return op.UsePreallocDo(op.buf.get(in[1].Dtype(), s...), in...)
}

func (op *convGradOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	g := op.fwd.convGeom
	switch out := prealloc.Data().(type) {
	case []float32:
		if op.wrt == 0 && len(op.s32) != g.ckk()*g.batch*g.p() {
			op.s32 = make([]float32, g.ckk()*g.batch*g.p())
		}
		convBackward(g, op.wrt, G.WhichBLAS().Sgemm, op.fwd.col32, op.s32, f32(in[0]), f32(in[1]), out)
	case []float64:
		if op.wrt == 0 && len(op.s64) != g.ckk()*g.batch*g.p() {
			op.s64 = make([]float64, g.ckk()*g.batch*g.p())
		}
		convBackward(g, op.wrt, G.WhichBLAS().Dgemm, op.fwd.col64, op.s64, f64(in[0]), f64(in[1]), out)
	default:
		return nil, fmt.Errorf("nnx.conv2dgrad: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

// convBackward computes one gradient. col is the forward pass's im2col;
// scratch holds the input gradient's columns.
func convBackward[T float](g convGeom, wrt int, gemm gemmFn[T], col, scratch, other, dy, out []T) {
	n, p, f := g.batch*g.p(), g.p(), g.filters
	switch wrt {
	case 0: // dcol (CKK x B*P) = Wᵀ · dy, image by image; then col2im.
		parallelFor(g.batch, convImageGrain(g), func(lo, hi int) {
			for b := lo; b < hi; b++ {
				gemm(blas.Trans, blas.NoTrans, g.ckk(), p, f, 1, other, g.ckk(), dy[b*f*p:], p, 0, scratch[b*p:], n)
				col2im(g, b, scratch, out)
			}
		})
	case 1: // dW (F x CKK) = Σ_b dy_b (F x P) · col_bᵀ (P x CKK)
		clear(out)
		for b := 0; b < g.batch; b++ {
			gemm(blas.NoTrans, blas.Trans, f, g.ckk(), p, 1, dy[b*f*p:], p, col[b*p:], n, 1, out, g.ckk())
		}
	case 2: // db = Σ over batch and positions
		clear(out)
		for b := 0; b < g.batch; b++ {
			for fi := 0; fi < f; fi++ {
				var s T
				for _, v := range dy[(b*f+fi)*p : (b*f+fi+1)*p] {
					s += v
				}
				out[fi] += s
			}
		}
	}
}
