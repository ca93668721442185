package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// TestSgemmAxpyMatchesGonum wants sgemmAxpy's products bit for bit equal
// to gonum's, at training shapes and ragged ones, with zeros (±0, which
// gonum skips), infinities and NaNs in A and B and -0 in C.
func TestSgemmAxpyMatchesGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.NaN())}
	fill := func(n int, zeros float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			switch r := rng.Float64(); {
			case r < zeros:
				v[i] = special[rng.IntN(2)]
			case r < zeros+0.001:
				v[i] = special[2+rng.IntN(2)]
			default:
				v[i] = rng.Float32()*2 - 1
			}
		}
		return v
	}
	shapes := [][3]int{{4, 16, 1}, {50, 64, 1690}, {1690, 64, 50}, {128, 128, 784}, {32, 128, 784}, {50, 128, 128},
		{784, 128, 50}, {10, 676, 9}, {7, 19, 5}, {5, 33, 70}, {130, 10, 64}, {64, 17, 3}}
	for _, s := range shapes {
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			m, n, k := s[0], s[1], s[2]
			t.Run(fmt.Sprintf("%dx%dx%d/%c", m, n, k, tA), func(t *testing.T) {
				lda := k
				if tA == blas.Trans {
					lda = m
				}
				a, b := fill(m*k, 0.4), fill(k*n, 0.05)
				c0 := fill(m*n, 0.1)
				want, got := slices.Clone(c0), slices.Clone(c0)
				gonum.Implementation{}.Sgemm(tA, blas.NoTrans, m, n, k, 1, a, lda, b, n, 1, want, n)
				if !sgemmAxpy(tA, m, n, k, a, lda, b, n, got, n) {
					t.Skip("no AVX2 path for this CPU or shape")
				}
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(got[i]) &&
						!(math.IsNaN(float64(want[i])) && math.IsNaN(float64(got[i]))) {
						t.Fatalf("element %d (row %d, col %d): got %v, gonum %v", i, i/n, i%n, got[i], want[i])
					}
				}
			})
		}
	}
}

// BenchmarkSgemmAxpy compares the AVX path with gonum at the MLP's and the
// CNN's dense shapes.
func BenchmarkSgemmAxpy(b *testing.B) {
	for _, s := range [][3]int{{128, 128, 784}, {50, 64, 1690}, {784, 128, 128}} {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range a {
			a[i] = float32(i%7) - 3
		}
		for i := range bb {
			bb[i] = float32(i%5) - 2
		}
		b.Run(fmt.Sprintf("%dx%dx%d/gonum", m, n, k), func(b *testing.B) {
			for b.Loop() {
				gonum.Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, bb, n, 0, c, n)
			}
		})
		b.Run(fmt.Sprintf("%dx%dx%d/axpy", m, n, k), func(b *testing.B) {
			for b.Loop() {
				clear(c)
				sgemmAxpy(blas.NoTrans, m, n, k, a, k, bb, n, c, n)
			}
		})
	}
}
