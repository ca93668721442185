package engine

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nnx-dev/nnx/pkg/model"
)

// TestReluBackwardF32MatchesGeneric checks the branch-free float32 path
// against the branching one, bit for bit, with signed zeros on both sides.
func TestReluBackwardF32MatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	n := 3 * elemGrain // big enough to run in parallel too
	y, dy := make([]float32, n), make([]float32, n)
	for i := range y {
		y[i] = rng.Float32()*2 - 1
		if rng.IntN(8) == 0 {
			y[i] = float32(math.Copysign(0, float64(rng.IntN(2)*2-1)))
		}
		dy[i] = rng.Float32()*2 - 1
		if rng.IntN(8) == 0 {
			dy[i] = float32(math.Copysign(0, -1))
		}
	}
	want, got := make([]float32, n), make([]float32, n)
	for i, v := range y {
		if v > 0 {
			want[i] = dy[i]
		}
	}
	reluBackward(y, dy, got)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("element %d (y %v, dy %v): got %v, want %v", i, y[i], dy[i], got[i], want[i])
		}
	}
}

// TestReluForwardF32MatchesMax checks the branch-free float32 path against
// Go's max(x, 0), bit for bit, signed zeros and infinities included.
func TestReluForwardF32MatchesMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}
	for range 3 * elemGrain {
		x = append(x, rng.Float32()*2-1)
	}
	got := make([]float32, len(x))
	reluForward(x, got)
	// NaNs pass, whatever their sign (amd64's own, from Inf-Inf, are negative).
	nans := []float32{math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc00000)}
	nanOut := make([]float32, 2)
	reluForward(nans, nanOut)
	for i, v := range nanOut {
		if !math.IsNaN(float64(v)) {
			t.Errorf("relu(%#x) = %v, want a NaN", math.Float32bits(nans[i]), v)
		}
	}
	for i, v := range x {
		if want := max(v, 0); math.Float32bits(want) != math.Float32bits(got[i]) {
			t.Fatalf("x %v: got %v, want %v", v, got[i], want)
		}
	}
}

// TestDivergenceCaughtAtOnce trains the seed CNN on real MNIST with an
// absurd learning rate: the NaNs it makes must reach the loss (through the
// ReLU and pooling fast paths) and stop training at the second step.
func TestDivergenceCaughtAtOnce(t *testing.T) {
	train, _ := realMNIST(t, 500)
	spec := model.Spec{Input: model.Shape{1, 28, 28}, Classes: 10, Layers: model.SeedCNN(10)}
	net, err := New(spec, Options{BatchSize: 50, LearningRate: 1e20, Momentum: 0.9, Init: "pytorch"}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	step := 0
	for step = 1; step <= 10; step++ {
		lo := (step - 1) * 50
		if _, _, err = net.Step(train.X[lo*784:(lo+50)*784], train.Y[lo:lo+50]); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "training diverged") || step > 2 {
		t.Fatalf("lr 1e20: step %d, err %v; want training diverged at step 2", step, err)
	}
}
