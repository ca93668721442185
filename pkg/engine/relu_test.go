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
