package engine

import (
	"fmt"
	"hash"
	"math"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// nnx's own batch normalisation, in place of gorgonia's BatchNorm: that one
// normalises in one op and then broadcasts the scale and shift by copying
// them to the input's size (two more ops and copies), and its statistics
// loop dominated the CNN's profile. batchNormOp normalises, scales and
// shifts in one pass per channel and keeps the running statistics itself,
// with PyTorch's conventions (running = 0.9*running + 0.1*batch, unbiased
// running variance, eps inside the square root).
type batchNormOp struct {
	opBase
	buf           outBuf // the output, reused every step
	n, c, spatial int    // x is (n, c, spatial...) : n*spatial values per channel
	dims          int    // x's rank, 2 or 4
	training      bool   // batch statistics, else running ones
	mean, vari    []float64
	// per-channel saves of the last training forward pass, for backward
	invStd []float64
	xhat32 []float32
	xhat64 []float64
	// gen counts training forward passes; sums holds Σdy and Σdy·xhat per
	// channel for pass sumsGen and the gradient at sumsOf, shared by the
	// three gradient ops (input, scale, shift), which need the same sums.
	// Sound while each backward pass follows its own forward pass (as in
	// a tape run); two backward passes over one forward pass with new
	// values in the same dy buffer would reuse stale sums.
	gen, sumsGen int
	sumsOf       uintptr
	sums         []float64
}

// batchNorm adds batch normalisation with learnable scale and shift (each
// shaped (1, C) or (1, C, 1, 1)) to x's graph.
func batchNorm(x, scale, shift *G.Node, training bool) (*G.Node, *batchNormOp, error) {
	xs := x.Shape()
	if len(xs) != 2 && len(xs) != 4 {
		return nil, nil, fmt.Errorf("batchnorm: input must be (N, C) or (N, C, H, W), got %v", xs)
	}
	op := &batchNormOp{n: xs[0], c: xs[1], spatial: xs.TotalSize() / (xs[0] * xs[1]), dims: len(xs), training: training}
	op.mean, op.vari, op.invStd = make([]float64, op.c), make([]float64, op.c), make([]float64, op.c)
	for i := range op.vari {
		op.vari[i] = 1
	}
	y, err := G.ApplyOp(op, x, scale, shift)
	return y, op, err
}

func (op *batchNormOp) Arity() int { return 3 }
func (op *batchNormOp) Type() hm.Type {
	t := &G.TensorType{Dims: op.dims, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t, t)
}
func (op *batchNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *batchNormOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "nnx.batchnorm(%d,%d,%d,%v)@%p", op.n, op.c, op.spatial, op.training, op)
}
func (op *batchNormOp) Hashcode() uint32 { return hashOf(op) }
func (op *batchNormOp) String() string   { return fmt.Sprintf("nnx.batchnorm(%d)", op.c) }

// Stats returns copies of the running mean and variance.
func (op *batchNormOp) Stats() (mean, variance []float32) {
	mean, variance = make([]float32, op.c), make([]float32, op.c)
	for i := range mean {
		mean[i], variance[i] = float32(op.mean[i]), float32(op.vari[i])
	}
	return mean, variance
}

// SetStats replaces the running mean and variance.
func (op *batchNormOp) SetStats(mean, variance []float32) error {
	if len(mean) != op.c || len(variance) != op.c {
		return fmt.Errorf("batchnorm: %d and %d statistics for %d channels", len(mean), len(variance), op.c)
	}
	for i := range mean {
		op.mean[i], op.vari[i] = float64(mean[i]), float64(variance[i])
	}
	return nil
}

func (op *batchNormOp) Do(in ...G.Value) (G.Value, error) {
	out := op.buf.get(in[0].Dtype(), in[0].Shape()...)
	return op.UsePreallocDo(out, in...)
}

func (op *batchNormOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch y := prealloc.Data().(type) {
	case []float32:
		if op.training && len(op.xhat32) != len(y) {
			op.xhat32 = make([]float32, len(y))
		}
		bnForward(op, f32(in[0]), f32(in[1]), f32(in[2]), y, op.xhat32)
	case []float64:
		if op.training && len(op.xhat64) != len(y) {
			op.xhat64 = make([]float64, len(y))
		}
		bnForward(op, f64(in[0]), f64(in[1]), f64(in[2]), y, op.xhat64)
	default:
		return nil, fmt.Errorf("nnx.batchnorm: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

// channel calls fn with the offset of each contiguous run of channel ch's
// values (spatial values long).
func (op *batchNormOp) channel(ch int, fn func(off int)) {
	for b := 0; b < op.n; b++ {
		fn((b*op.c + ch) * op.spatial)
	}
}

func bnForward[T float](op *batchNormOp, x, scale, shift, y, xhat []T) {
	if op.training {
		op.gen++
	}
	count := float64(op.n * op.spatial)
	parallelFor(op.c, elemGrain/(op.n*op.spatial), func(lo, hi int) {
		for g := lo; g < hi; g += 4 {
			cs, n := bnGroup(g, hi)
			var sums, sqs [4]float64
			if op.training {
				sums = bnSum4(op, x, cs, nil)
				var means [4]float64
				for j := range means {
					means[j] = sums[j] / count
				}
				sqs = bnSum4(op, x, cs, &means)
			}
			for j := range n {
				bnForwardChannel(op, cs[j], count, sums[j], sqs[j], x, scale, shift, y, xhat)
			}
		}
	})
}

// bnGroup returns channels g, g+1, ... up to 4 of them below hi, the last
// repeated to fill the four places, and how many there are.
func bnGroup(g, hi int) (cs [4]int, n int) {
	n = min(4, hi-g)
	for j := range cs {
		cs[j] = g + min(j, n-1)
	}
	return cs, n
}

// bnSum4 returns, for channels cs, Σx over the batch and positions, or
// Σ(x-mean)² with means. Each channel's sum is a chain of float64 additions
// in the order of one channel's loop (images, then positions), the same
// bits as summing it alone; four chains side by side keep the adder busy
// where one waits on each addition's latency.
func bnSum4[T float](op *batchNormOp, x []T, cs [4]int, means *[4]float64) [4]float64 {
	var s0, s1, s2, s3 float64
	sp := op.spatial
	for b := 0; b < op.n; b++ {
		r0 := x[(b*op.c+cs[0])*sp:][:sp]
		r1 := x[(b*op.c+cs[1])*sp:][:sp]
		r2 := x[(b*op.c+cs[2])*sp:][:sp]
		r3 := x[(b*op.c+cs[3])*sp:][:sp]
		if means == nil {
			for i := range r0 {
				s0 += float64(r0[i])
				s1 += float64(r1[i])
				s2 += float64(r2[i])
				s3 += float64(r3[i])
			}
			continue
		}
		m0, m1, m2, m3 := means[0], means[1], means[2], means[3]
		for i := range r0 {
			d0 := float64(r0[i]) - m0
			d1 := float64(r1[i]) - m1
			d2 := float64(r2[i]) - m2
			d3 := float64(r3[i]) - m3
			s0 += d0 * d0
			s1 += d1 * d1
			s2 += d2 * d2
			s3 += d3 * d3
		}
	}
	return [4]float64{s0, s1, s2, s3}
}

// bnForwardChannel normalises channel ch; channels are independent. In
// training, sum and ss are the channel's Σx and Σ(x-mean)² (bnSum4).
func bnForwardChannel[T float](op *batchNormOp, ch int, count, sum, ss float64, x, scale, shift, y, xhat []T) {
	var mean, invStd float64
	if op.training {
		mean = sum / count
		invStd = 1 / math.Sqrt(ss/count+bnEpsilon)
		op.invStd[ch] = invStd
		unbiased := ss / math.Max(count-1, 1)
		// Rounded to float32, the precision the statistics are saved in,
		// so a model restored from its weights evaluates identically.
		op.mean[ch] = float64(float32((1-bnMomentum)*op.mean[ch] + bnMomentum*mean))
		op.vari[ch] = float64(float32((1-bnMomentum)*op.vari[ch] + bnMomentum*unbiased))
	} else {
		mean, invStd = op.mean[ch], 1/math.Sqrt(op.vari[ch]+bnEpsilon)
	}
	m, is, g, s := T(mean), T(invStd), scale[ch], shift[ch]
	op.channel(ch, func(off int) {
		xs := x[off : off+op.spatial]
		ys := y[off : off+len(xs)]
		if xhat == nil {
			for i, v := range xs {
				ys[i] = (v-m)*is*g + s
			}
			return
		}
		hs := xhat[off : off+len(xs)]
		for i, v := range xs {
			h := (v - m) * is
			hs[i] = h
			ys[i] = h*g + s
		}
	})
}

func (op *batchNormOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *batchNormOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if !op.training {
		return nil, fmt.Errorf("nnx.batchnorm: no gradient in evaluation mode")
	}
	out := make(G.Nodes, len(inputs))
	for wrt := range inputs {
		// Every gradient is computed from the scale and dy (the input's needs
		// the scale; the scale's and shift's only use its shape).
		d, err := G.ApplyOp(&bnGradOp{fwd: op, wrt: wrt}, inputs[1], grad)
		if err != nil {
			return nil, err
		}
		out[wrt] = d
	}
	return out, nil
}

// bnGradOp is one gradient of batchNormOp from (scale, dy): wrt 0 the
// input, 1 the scale, 2 the shift.
type bnGradOp struct {
	opBase
	buf outBuf // the output, reused every step
	fwd *batchNormOp
	wrt int
}

func (op *bnGradOp) Arity() int { return 2 }
func (op *bnGradOp) Type() hm.Type {
	t := &G.TensorType{Dims: op.fwd.dims, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t)
}
func (op *bnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.wrt == 0 {
		return in[1].(tensor.Shape).Clone(), nil
	}
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *bnGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "nnx.batchnormgrad%d@%p", op.wrt, op.fwd) }
func (op *bnGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *bnGradOp) String() string        { return fmt.Sprintf("nnx.batchnormgrad(%d)", op.wrt) }

func (op *bnGradOp) Do(in ...G.Value) (G.Value, error) {
	src := in[1]
	if op.wrt != 0 {
		src = in[0]
	}
	return op.UsePreallocDo(op.buf.get(src.Dtype(), src.Shape()...), in...)
}

func (op *bnGradOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	switch out := prealloc.Data().(type) {
	case []float32:
		bnBackward(op.fwd, op.wrt, f32(in[0]), f32(in[1]), op.fwd.xhat32, out)
	case []float64:
		bnBackward(op.fwd, op.wrt, f64(in[0]), f64(in[1]), op.fwd.xhat64, out)
	default:
		return nil, fmt.Errorf("nnx.batchnormgrad: unsupported dtype %v", prealloc.Dtype())
	}
	return prealloc, nil
}

// bnBackward: with x̂ the normalised input and N values per channel,
// dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/σ · (dy − dβ/N − x̂·dγ/N).
func bnBackward[T float](op *batchNormOp, wrt int, scale, dy, xhat, out []T) {
	count := float64(op.n * op.spatial)
	grain := elemGrain / (op.n * op.spatial)
	if at := uintptr(unsafe.Pointer(&dy[0])); op.sumsGen != op.gen || op.sumsOf != at || len(op.sums) != 2*op.c {
		if len(op.sums) != 2*op.c {
			op.sums = make([]float64, 2*op.c)
		}
		parallelFor(op.c, grain, func(lo, hi int) {
			for g := lo; g < hi; g += 4 {
				cs, n := bnGroup(g, hi)
				sdy, sdyx := bnGradSum4(op, dy, xhat, cs)
				for j, ch := range cs[:n] {
					op.sums[2*ch], op.sums[2*ch+1] = sdy[j], sdyx[j]
				}
			}
		})
		op.sumsGen, op.sumsOf = op.gen, at
	}
	switch wrt {
	case 1:
		for ch := range op.c {
			out[ch] = T(op.sums[2*ch+1])
		}
	case 2:
		for ch := range op.c {
			out[ch] = T(op.sums[2*ch])
		}
	case 0:
		parallelFor(op.c, grain, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				k := T(float64(scale[ch]) * op.invStd[ch])
				mdy, mdyx := T(op.sums[2*ch]/count), T(op.sums[2*ch+1]/count)
				op.channel(ch, func(off int) {
					ds := dy[off : off+op.spatial]
					hs, os := xhat[off:off+len(ds)], out[off:off+len(ds)]
					for i, d := range ds {
						os[i] = k * (d - mdy - hs[i]*mdyx)
					}
				})
			}
		})
	}
}

// bnGradSum4 returns, for channels cs, Σdy and Σdy·xhat over the batch and
// positions, each in one channel's loop order (see bnSum4).
func bnGradSum4[T float](op *batchNormOp, dy, xhat []T, cs [4]int) (sdy, sdyx [4]float64) {
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	sp := op.spatial
	for b := 0; b < op.n; b++ {
		o0, o1, o2, o3 := (b*op.c+cs[0])*sp, (b*op.c+cs[1])*sp, (b*op.c+cs[2])*sp, (b*op.c+cs[3])*sp
		d0, d1, d2, d3 := dy[o0:o0+sp], dy[o1:o1+sp], dy[o2:o2+sp], dy[o3:o3+sp]
		x0, x1, x2, x3 := xhat[o0:o0+sp], xhat[o1:o1+sp], xhat[o2:o2+sp], xhat[o3:o3+sp]
		for i := range d0 {
			a0 += float64(d0[i])
			b0 += float64(d0[i]) * float64(x0[i])
			a1 += float64(d1[i])
			b1 += float64(d1[i]) * float64(x1[i])
			a2 += float64(d2[i])
			b2 += float64(d2[i]) * float64(x2[i])
			a3 += float64(d3[i])
			b3 += float64(d3[i]) * float64(x3[i])
		}
	}
	return [4]float64{a0, a1, a2, a3}, [4]float64{b0, b1, b2, b3}
}
