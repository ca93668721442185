package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nnx-dev/nnx/pkg/model"
)

func randomBatch(rng *rand.Rand, n, feat, classes int) ([]float32, []uint8) {
	x := make([]float32, n*feat)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]uint8, n)
	for i := range y {
		y[i] = uint8(rng.IntN(classes))
	}
	return x, y
}

// TestBatchNormTrainVersusEval: training normalises with batch statistics
// and updates the running ones; evaluation uses the running statistics, so
// an example's prediction does not depend on the rest of its batch.
func TestBatchNormTrainVersusEval(t *testing.T) {
	spec := model.Spec{Input: model.Shape{2, 6, 6}, Classes: 3, Layers: []model.Layer{
		{Kind: model.Conv2D, Filters: 4, Kernel: 3}, {Kind: model.BatchNorm}, {Kind: model.ReLU},
		{Kind: model.Flatten}, {Kind: model.Dense, Units: 3}}}
	rng := rand.New(rand.NewPCG(5, 6))
	net, err := New(spec, Options{BatchSize: 8, EvalBatch: 4, LearningRate: 0.05, Momentum: 0.9, Init: "pytorch"}, rng)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	x, y := randomBatch(rng, 8, 72, 3)
	for i := 0; i < 20; i++ {
		if _, _, err := net.Step(x, y); err != nil {
			t.Fatal(err)
		}
	}
	var mean, variance model.Tensor
	for _, w := range net.Weights() {
		switch w.Name {
		case "batchnorm0.running_mean":
			mean = w
		case "batchnorm0.running_var":
			variance = w
		}
	}
	if mean.Data == nil || variance.Data == nil {
		t.Fatal("no running statistics among the weights")
	}
	if mean.Data[0] == 0 || variance.Data[0] == 1 {
		t.Errorf("running statistics did not move: mean %v var %v", mean.Data, variance.Data)
	}
	alone := make([]float32, 3)
	if err := net.Predict(x[:72], alone); err != nil {
		t.Fatal(err)
	}
	together := make([]float32, 8*3)
	if err := net.Predict(x, together); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		if math.Abs(float64(alone[c]-together[c])) > 1e-6 {
			t.Fatalf("evaluation depends on the batch: %v alone, %v in a batch", alone, together[:3])
		}
	}
	// A new net given the weights predicts the same: the statistics travel with them.
	net2, err := New(spec, Options{BatchSize: 8, EvalBatch: 4, LearningRate: 0.05, Init: "pytorch"}, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	defer net2.Close()
	if err := net2.SetWeights(net.Weights()); err != nil {
		t.Fatal(err)
	}
	again := make([]float32, 8*3)
	if err := net2.Predict(x, again); err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i] != together[i] {
			t.Fatalf("restored net predicts %v, want %v", again[:3], together[:3])
		}
	}
}

// TestDropoutTrainVersusEval: dropout draws a new mask every training step
// and is the identity in evaluation.
func TestDropoutTrainVersusEval(t *testing.T) {
	layers := func(drop bool) []model.Layer {
		ls := []model.Layer{{Kind: model.Dense, Units: 16}, {Kind: model.ReLU}}
		if drop {
			ls = append(ls, model.Layer{Kind: model.Dropout, Rate: 0.5})
		}
		return append(ls, model.Layer{Kind: model.Dense, Units: 3})
	}
	rng := rand.New(rand.NewPCG(7, 8))
	opt := Options{BatchSize: 6, LearningRate: 1e-9, Init: "glorot"}
	net, err := New(model.Spec{Input: model.Shape{5}, Classes: 3, Layers: layers(true)}, opt, rng)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	x, y := randomBatch(rng, 6, 5, 3)
	l1, _, _ := net.Step(x, y)
	l2, _, err := net.Step(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if l1 == l2 {
		t.Errorf("two training steps on the same batch gave the same loss %v: dropout masks are not redrawn", l1)
	}
	plain, err := New(model.Spec{Input: model.Shape{5}, Classes: 3, Layers: layers(false)}, opt, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.SetWeights(net.Weights()); err != nil {
		t.Fatal(err)
	}
	a, b := make([]float32, 18), make([]float32, 18)
	if err := net.Predict(x, a); err != nil {
		t.Fatal(err)
	}
	if err := plain.Predict(x, b); err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("evaluation with dropout %v differs from without %v", a[:3], b[:3])
		}
	}
}

// TestOptimizersMatchPyTorch checks one update of each optimiser against
// hand-computed PyTorch semantics.
func TestOptimizersMatchPyTorch(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		want []float32 // w after two steps from w=1 with gradients 0.5 then 0.25
	}{
		// sgd: w -= lr*(g + wd*w)
		{"sgd", Options{Optimizer: "sgd", LearningRate: 0.1}, []float32{1 - 0.05 - 0.025}},
		// momentum: b1 = g1; b2 = 0.9*b1 + g2
		{"momentum", Options{Optimizer: "sgd", LearningRate: 0.1, Momentum: 0.9}, []float32{1 - 0.05 - 0.1*(0.45+0.25)}},
		// nesterov: step by g + m*b
		{"nesterov", Options{Optimizer: "sgd", LearningRate: 0.1, Momentum: 0.9, Nesterov: true},
			[]float32{1 - 0.1*(0.5+0.45) - 0.1*(0.25+0.9*0.7)}},
		// weight decay 0.1: g1 = 0.5+0.1*1
		{"decay", Options{Optimizer: "sgd", LearningRate: 0.1, WeightDecay: 0.1},
			[]float32{func() float32 { w := float32(1) - 0.1*0.6; return w - 0.1*(0.25+0.1*w) }()}},
		// adam: the first steps move by lr (bias-corrected m/sqrt(v) = sign)
		{"adam", Options{Optimizer: "adam", LearningRate: 0.01}, []float32{adamTwoSteps()}},
	} {
		o, err := newOptimizer(tc.opt, []int{1})
		if err != nil {
			t.Fatal(err)
		}
		w := [][]float32{{1}}
		o.step(w, [][]float32{{0.5}})
		o.step(w, [][]float32{{0.25}})
		if math.Abs(float64(w[0][0]-tc.want[0])) > 1e-6 {
			t.Errorf("%s: w = %v, want %v", tc.name, w[0][0], tc.want[0])
		}
	}
}

func adamTwoSteps() float32 {
	w, m, v := 1.0, 0.0, 0.0
	for i, g := range []float64{0.5, 0.25} {
		m = 0.9*m + 0.1*g
		v = 0.999*v + 0.001*g*g
		mh := m / (1 - math.Pow(0.9, float64(i+1)))
		vh := v / (1 - math.Pow(0.999, float64(i+1)))
		w -= 0.01 * mh / (math.Sqrt(vh) + 1e-8)
	}
	return float32(w)
}
