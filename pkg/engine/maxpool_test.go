package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestMaxPoolMatchesGorgonia runs nnx's pooling and gorgonia's MaxPool2D
// on the same input (with ties) and expects the same outputs and input
// gradients, bit for bit.
func TestMaxPoolMatchesGorgonia(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 3*2*7*7)
	for i := range x {
		x[i] = float32(rng.IntN(5)) // many ties
	}
	run := func(ours bool) (y, dx []float32) {
		g := G.NewGraph()
		xn := G.NewTensor(g, tensor.Float32, 4, G.WithShape(3, 2, 7, 7), G.WithName("x"),
			G.WithValue(tensor.New(tensor.WithShape(3, 2, 7, 7), tensor.WithBacking(append([]float32(nil), x...)))))
		var p *G.Node
		var err error
		if ours {
			p, err = maxPool2d(xn, 2, 2)
		} else {
			p, err = G.MaxPool2D(xn, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
		}
		if err != nil {
			t.Fatal(err)
		}
		w := G.NewTensor(g, tensor.Float32, 4, G.WithShape(p.Shape()...), G.WithName("w"), G.WithInit(G.RangedFrom(1)))
		s, _ := G.Sum(G.Must(G.HadamardProd(p, w)))
		var out G.Value
		G.Read(p, &out)
		if _, err := G.Grad(s, xn); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g, G.BindDualValues(xn))
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		gv, _ := xn.Grad()
		return append([]float32(nil), out.Data().([]float32)...), append([]float32(nil), gv.Data().([]float32)...)
	}
	y1, dx1 := run(true)
	y2, dx2 := run(false)
	for i := range y1 {
		if y1[i] != y2[i] {
			t.Fatalf("output %d: ours %v, gorgonia's %v", i, y1[i], y2[i])
		}
	}
	for i := range dx1 {
		if dx1[i] != dx2[i] {
			t.Fatalf("input gradient %d: ours %v, gorgonia's %v", i, dx1[i], dx2[i])
		}
	}
}

// TestPool2x2Float32MatchesGeneric checks the branch-free float32 path
// against the generic one, bit for bit, on data with ties and signed zeros.
func TestPool2x2Float32MatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const w, h = 26, 26
	src := make([]float32, w*h)
	for i := range src {
		switch rng.IntN(4) {
		case 0:
			src[i] = float32(math.Copysign(0, float64(rng.IntN(2)*2-1))) // +0 or -0
		case 1:
			src[i] = float32(rng.IntN(3)) // ties
		default:
			src[i] = rng.Float32()*2 - 1
		}
	}
	d1, d2 := make([]float32, 13*13), make([]float32, 13*13)
	a1, a2 := make([]int32, 13*13), make([]int32, 13*13)
	pool2x2(w, 13, 13, src, d1, a1)
	pool2x2f32(w, 13, 13, src, d2, a2)
	for i := range d1 {
		if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) || a1[i] != a2[i] {
			t.Fatalf("output %d: generic %v at %d, float32 %v at %d", i, d1[i], a1[i], d2[i], a2[i])
		}
	}
	// A positive NaN anywhere in a window wins it; a window of NaNs (what
	// a batch norm that met a NaN makes) gives a NaN, whatever their sign.
	src[w+1] = math.Float32frombits(0x7fc00000) // bottom right of window 0
	pool2x2f32(w, 13, 13, src, d2, a2)
	if !math.IsNaN(float64(d2[0])) || a2[0] != w+1 {
		t.Errorf("positive NaN: window 0 gave %v at %d, want the NaN at %d", d2[0], a2[0], w+1)
	}
	for _, i := range []int{0, 1, w, w + 1} {
		src[i] = math.Float32frombits(0xffc00000)
	}
	pool2x2f32(w, 13, 13, src, d2, a2)
	if !math.IsNaN(float64(d2[0])) {
		t.Errorf("window of negative NaNs gave %v, want a NaN", d2[0])
	}
}

// BenchmarkPool2x2 pools 500 planes of random data (a CNN step's worth at
// batch 50), too many for the branch predictor to learn.
func BenchmarkPool2x2(b *testing.B) {
	const planes = 500
	rng := rand.New(rand.NewPCG(5, 6))
	src := make([]float32, planes*26*26)
	for i := range src {
		src[i] = rng.Float32()*2 - 1
	}
	d, a := make([]float32, planes*13*13), make([]int32, planes*13*13)
	for _, c := range []struct {
		name string
		fn   func(w, outH, outW int, src, dst []float32, arg []int32)
	}{{"generic", pool2x2[float32]}, {"float32", pool2x2f32}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				for p := range planes {
					c.fn(26, 13, 13, src[p*676:(p+1)*676], d[p*169:(p+1)*169], a[p*169:(p+1)*169])
				}
			}
		})
	}
}
