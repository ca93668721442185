//go:build openblas

package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	netlib "gonum.org/v1/netlib/blas/netlib"
)

// TestSplitGemm checks that cutting a product into blocks computes it (to
// float32 rounding: OpenBLAS's kernels for a block's edges add in another
// order) and gives the same bits on 1 and 4 cores, for the shapes training
// uses, in every transposition.
func TestSplitGemm(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(3, 3))
	shapes := [][3]int{{50, 64, 1690}, {1690, 64, 50}, {50, 1690, 64}, {128, 128, 784}, {784, 128, 128}, {128, 784, 128}, {32, 128, 784}, {10, 676, 9}}
	for _, s := range shapes {
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				m, n, k := s[0], s[1], s[2]
				t.Run(fmt.Sprintf("%dx%dx%d/%c%c", m, n, k, tA, tB), func(t *testing.T) {
					a, b := make([]float32, m*k), make([]float32, k*n)
					for i := range a {
						a[i] = rng.Float32() - 0.5
					}
					for i := range b {
						b[i] = rng.Float32() - 0.5
					}
					lda, ldb := k, n
					if tA == blas.Trans {
						lda = m
					}
					if tB == blas.Trans {
						ldb = k
					}
					c0 := make([]float32, m*n)
					for i := range c0 {
						c0[i] = rng.Float32()
					}
					want := slices.Clone(c0)
					plain := netlib.Implementation{}.Sgemm
					plain(tA, tB, m, n, k, 1, a, lda, b, ldb, 1, want, n)
					for _, byRows := range []bool{true, false} {
						one, four := slices.Clone(c0), slices.Clone(c0)
						runtime.GOMAXPROCS(1)
						splitGemm(plain, byRows, tA, tB, m, n, k, 1, a, lda, b, ldb, 1, one, n)
						runtime.GOMAXPROCS(4)
						splitGemm(plain, byRows, tA, tB, m, n, k, 1, a, lda, b, ldb, 1, four, n)
						for i := range want {
							if math.Abs(float64(want[i]-one[i])) > 1e-4*max(1, math.Abs(float64(want[i]))) {
								t.Fatalf("by rows %v, element %d: split %v, whole %v", byRows, i, one[i], want[i])
							}
							if one[i] != four[i] {
								t.Fatalf("by rows %v, element %d: %v on 1 core, %v on 4", byRows, i, one[i], four[i])
							}
						}
					}
				})
			}
		}
	}
}
