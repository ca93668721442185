package engine

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/nnx-dev/nnx/pkg/model"
)

// reference computes softmax(MLP(x)) in plain Go from exported weights.
func reference(spec model.Spec, ws []model.Tensor, x []float32) []float32 {
	h := append([]float32(nil), x...)
	wi := 0
	for _, l := range spec.Layers {
		switch l.Kind {
		case model.Dense:
			w, b := ws[wi], ws[wi+1]
			in, out := w.Shape[0], w.Shape[1]
			next := make([]float32, out)
			for j := 0; j < out; j++ {
				s := b.Data[j]
				for i := 0; i < in; i++ {
					s += h[i] * w.Data[i*out+j]
				}
				next[j] = s
			}
			h = next
			wi += 2
		case model.ReLU:
			for i := range h {
				h[i] = max(h[i], 0)
			}
		}
	}
	m := h[0]
	for _, v := range h {
		m = max(m, v)
	}
	var z float64
	for i := range h {
		z += math.Exp(float64(h[i] - m))
	}
	for i := range h {
		h[i] = float32(math.Exp(float64(h[i]-m)) / z)
	}
	return h
}

func TestStepUpdatesSharedWeights(t *testing.T) {
	spec := model.Spec{Input: model.Shape{6}, Classes: 3, Layers: model.MLP([]int{5}, model.ReLU, 3)}
	rng := rand.New(rand.NewPCG(1, 2))
	net, err := New(spec, Options{BatchSize: 4, EvalBatch: 3, LearningRate: 0.5, Momentum: 0.9, Init: "glorot"}, rng)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	x := make([]float32, 4*6)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	y := []uint8{0, 1, 2, 1}
	before := net.Weights()
	var first float64
	for i := 0; i < 30; i++ {
		loss, _, err := net.Step(x, y)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = loss
			var want float64
			for e, c := range y {
				want -= math.Log(float64(reference(spec, before, x[e*6:(e+1)*6])[c])) / 4
			}
			if math.Abs(loss-want) > 1e-5 {
				t.Errorf("first loss %v, want the cross-entropy %v", loss, want)
			}
		}
		if i == 29 && loss > first/4 {
			t.Errorf("loss went from %v to %v in 30 steps on 4 examples", first, loss)
		}
	}
	after := net.Weights()
	for i := range after {
		if reflect.DeepEqual(after[i].Data, before[i].Data) {
			t.Errorf("%s did not change after training", after[i].Name)
		}
	}
	// Predict (a separate graph, batch 3 so the last batch is padded) sees the trained weights.
	probs := make([]float32, 4*3)
	if err := net.Predict(x, probs); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		want := reference(spec, after, x[i*6:(i+1)*6])
		for c := 0; c < 3; c++ {
			if d := math.Abs(float64(probs[i*3+c] - want[c])); d > 1e-5 {
				t.Fatalf("example %d class %d: engine %v, reference %v", i, c, probs[i*3+c], want[c])
			}
		}
	}
}

func TestSameSeedSameWeights(t *testing.T) {
	spec := model.Spec{Input: model.Shape{4}, Classes: 2, Layers: model.MLP([]int{3}, model.Tanh, 2)}
	mk := func(seed uint64) []model.Tensor {
		net, err := New(spec, Options{BatchSize: 2, LearningRate: 0.1}, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		if _, _, err := net.Step([]float32{1, 0, 0, 1, 0, 1, 1, 0}, []uint8{0, 1}); err != nil {
			t.Fatal(err)
		}
		return net.Weights()
	}
	a, b, c := mk(7), mk(7), mk(8)
	for i := range a {
		for j := range a[i].Data {
			if a[i].Data[j] != b[i].Data[j] {
				t.Fatalf("same seed, %s[%d] differs: %v vs %v", a[i].Name, j, a[i].Data[j], b[i].Data[j])
			}
		}
	}
	if a[0].Data[0] == c[0].Data[0] {
		t.Error("different seeds gave the same first weight")
	}
}

func TestOptionErrors(t *testing.T) {
	spec := model.Spec{Input: model.Shape{4}, Classes: 2, Layers: model.MLP(nil, model.ReLU, 2)}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{BatchSize: 0, LearningRate: 1}, "batch size must be at least 1, got 0"},
		{Options{BatchSize: 1, LearningRate: 0}, "learning rate must be > 0, got 0"},
		{Options{BatchSize: 1, LearningRate: 1, Optimizer: "lbfgs"}, `unknown optimizer "lbfgs" (valid: sgd, adam)`},
		{Options{BatchSize: 1, LearningRate: 1, Momentum: 1}, "momentum must be in [0, 1), got 1"},
		{Options{BatchSize: 1, LearningRate: 1, Init: "xavier"}, `unknown init "xavier" (valid: normal, glorot, he, pytorch)`},
		{Options{BatchSize: 1, LearningRate: 1, Nesterov: true}, "nesterov needs a momentum > 0"},
		{Options{BatchSize: 1, LearningRate: 1, WeightDecay: -1}, "weight decay must be >= 0, got -1"},
	} {
		_, err := New(spec, tc.opt, rng)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: got %v, want %q", tc.opt, err, tc.want)
		}
	}
}
