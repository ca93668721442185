package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/nnx-dev/nnx/pkg/model"
)

// gradCheck compares gorgonia's gradients of the loss of a small network,
// built by the same forward function training uses, with central finite
// differences in float64, for every learnable tensor and the input.
func gradCheck(t *testing.T, spec model.Spec, batch int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	g := G.NewGraph()
	xshape := append([]int{batch}, spec.Input...)
	xv := tensor.New(tensor.WithShape(xshape...), tensor.WithBacking(randn(rng, model.Shape(xshape).Size(), 1)))
	x := G.NewTensor(g, tensor.Float64, len(xshape), G.WithShape(xshape...), G.WithName("x"), G.WithValue(xv))
	params, err := spec.Params()
	if err != nil {
		t.Fatal(err)
	}
	var nodes G.Nodes
	for _, p := range params {
		if !p.Learnable {
			continue
		}
		v := randn(rng, model.Shape(p.Shape).Size(), 0.5)
		if p.Role == model.Scale {
			for i := range v {
				v[i] += 1
			}
		}
		nodes = append(nodes, G.NewTensor(g, tensor.Float64, len(p.Shape), G.WithShape(p.Shape...), G.WithName(p.Name),
			G.WithValue(tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(v)))))
	}
	f, err := forward(spec, x, nodes, true, true)
	if err != nil {
		t.Fatal(err)
	}
	oh := make([]float64, batch*spec.Classes)
	for i := 0; i < batch; i++ {
		oh[i*spec.Classes+rng.IntN(spec.Classes)] = 1
	}
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(batch, spec.Classes), G.WithValue(tensor.New(tensor.WithShape(batch, spec.Classes), tensor.WithBacking(oh))))
	loss, err := crossEntropy(f.logits, y)
	if err != nil {
		t.Fatal(err)
	}
	var lossVal G.Value
	G.Read(loss, &lossVal)
	wrt := append(nodes, x)
	if _, err := G.Grad(loss, wrt...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
	defer vm.Close()
	run := func() float64 {
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Reset()
		return lossVal.Data().(float64)
	}
	run()
	grads := make([][]float64, len(wrt))
	for i, n := range wrt {
		gv, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		grads[i] = append([]float64(nil), gv.Data().([]float64)...)
	}
	const eps = 1e-6
	for i, n := range wrt {
		vals := n.Value().Data().([]float64)
		for k := 0; k < min(len(vals), 12); k++ {
			j := (k * 7919) % len(vals)
			old := vals[j]
			vals[j] = old + eps
			up := run()
			vals[j] = old - eps
			down := run()
			vals[j] = old
			num := (up - down) / (2 * eps)
			if d := math.Abs(num - grads[i][j]); d > 1e-6+1e-4*math.Abs(num) {
				t.Errorf("%s[%d]: analytic %.8g, numeric %.8g", n.Name(), j, grads[i][j], num)
			}
		}
	}
}

func randn(rng *rand.Rand, n int, sd float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * sd
	}
	return v
}

func TestGradDenseAndLoss(t *testing.T) {
	gradCheck(t, model.Spec{Input: model.Shape{5}, Classes: 3,
		Layers: []model.Layer{{Kind: model.Dense, Units: 4}, {Kind: model.Tanh}, {Kind: model.Dense, Units: 4}, {Kind: model.Sigmoid}, {Kind: model.Dense, Units: 3}}}, 3)
}

func TestGradConv2D(t *testing.T) {
	gradCheck(t, model.Spec{Input: model.Shape{2, 6, 6}, Classes: 3,
		Layers: []model.Layer{{Kind: model.Conv2D, Filters: 3, Kernel: 3, Stride: 2, Padding: 1}, {Kind: model.Flatten}, {Kind: model.Dense, Units: 3}}}, 2)
}

func TestGradMaxPool2D(t *testing.T) {
	gradCheck(t, model.Spec{Input: model.Shape{2, 6, 6}, Classes: 3,
		Layers: []model.Layer{{Kind: model.Conv2D, Filters: 2, Kernel: 3}, {Kind: model.MaxPool2D, Kernel: 2}, {Kind: model.Flatten}, {Kind: model.Dense, Units: 3}}}, 2)
}

func TestGradBatchNorm(t *testing.T) {
	gradCheck(t, model.Spec{Input: model.Shape{2, 5, 5}, Classes: 3,
		Layers: []model.Layer{{Kind: model.Conv2D, Filters: 3, Kernel: 3}, {Kind: model.BatchNorm}, {Kind: model.ReLU},
			{Kind: model.Flatten}, {Kind: model.Dense, Units: 4}, {Kind: model.BatchNorm}, {Kind: model.Dense, Units: 3}}}, 4)
}

// TestFusedCrossEntropyMatchesComposed compares the fused loss op with the
// same loss built from gorgonia's ops: value and gradient.
func TestFusedCrossEntropyMatchesComposed(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	z := randn(rng, 4*5, 3)
	y := make([]float64, 4*5)
	for r := 0; r < 4; r++ {
		y[r*5+rng.IntN(5)] = 1
	}
	run := func(loss func(l, y *G.Node) (*G.Node, error)) (float64, []float64) {
		g := G.NewGraph()
		zn := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 5), G.WithName("z"),
			G.WithValue(tensor.New(tensor.WithShape(4, 5), tensor.WithBacking(append([]float64(nil), z...)))))
		yn := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 5), G.WithName("y"),
			G.WithValue(tensor.New(tensor.WithShape(4, 5), tensor.WithBacking(y))))
		l, err := loss(zn, yn)
		if err != nil {
			t.Fatal(err)
		}
		var lv G.Value
		G.Read(l, &lv)
		if _, err := G.Grad(l, zn); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g, G.BindDualValues(zn))
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		gv, _ := zn.Grad()
		return lv.Data().(float64), append([]float64(nil), gv.Data().([]float64)...)
	}
	l1, g1 := run(crossEntropy)
	l2, g2 := run(crossEntropyComposed)
	if math.Abs(l1-l2) > 1e-12 {
		t.Errorf("loss: fused %v, composed %v", l1, l2)
	}
	for i := range g1 {
		if math.Abs(g1[i]-g2[i]) > 1e-12 {
			t.Fatalf("gradient %d: fused %v, composed %v", i, g1[i], g2[i])
		}
	}
}

// crossEntropyComposed is crossEntropy from gorgonia's own ops; the tests
// check the fused op against it.
func crossEntropyComposed(logits, y *G.Node) (*G.Node, error) {
	logp, err := G.LogSoftMax(logits)
	if err != nil {
		return nil, err
	}
	picked, err := G.HadamardProd(y, logp)
	if err != nil {
		return nil, err
	}
	perExample, err := G.Sum(picked, 1)
	if err != nil {
		return nil, err
	}
	mean, err := G.Mean(perExample)
	if err != nil {
		return nil, err
	}
	return G.Neg(mean)
}
