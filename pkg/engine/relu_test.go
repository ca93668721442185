package engine

import (
	"math"
	"math/rand/v2"
	"testing"
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
	for i, v := range x {
		if want := max(v, 0); math.Float32bits(want) != math.Float32bits(got[i]) {
			t.Fatalf("x %v: got %v, want %v", v, got[i], want)
		}
	}
}
