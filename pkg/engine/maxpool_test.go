package engine

import (
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
