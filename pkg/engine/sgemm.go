package engine

import (
	"gonum.org/v1/gonum/blas"

	"github.com/nnx-dev/nnx/pkg/engine/internal/sgemm"
)

// sgemmAxpy computes C += A·B (tA NoTrans) or C += Aᵀ·B (tA Trans) with B
// not transposed and alpha 1, the products gonum computes as axpys (y +=
// t·x along C's rows, skipping t = 0): each element of C gets the same
// float32 products, added in the same order (A's columns ascending), so the
// bits are gonum's. internal/sgemm does them 4 rows by 16 columns at a
// time in AVX registers instead of one row at a time, 2x faster at a
// training step's shapes; groups of rows run side by side. It reports
// false, doing nothing, unless axpyFits.
func sgemmAxpy(tA blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	if !axpyFits(m, n, k) {
		return false
	}
	ars, acs := lda, 1 // the strides between op(A)'s rows and its columns
	if tA == blas.Trans {
		ars, acs = 1, lda
	}
	// The bounds every kernel call stays within (gonum checked them too).
	if len(a) < (m-1)*ars+(k-1)*acs+1 || len(b) < (k-1)*ldb+n || len(c) < (m-1)*ldc+n {
		panic("engine: sgemmAxpy: a slice is too short for its shape")
	}
	units := (m + 3) / 4 // groups of 4 rows
	parallelFor(units, max(1, (1<<17)/(4*n*k)), func(lo, hi int) {
		sgemm.Rows(4*lo, min(4*hi, m), n, k, a, ars, acs, b, ldb, c, ldc)
	})
	return true
}

// axpyFits says whether sgemmAxpy takes a product: the CPU has AVX2 and C
// has at least 4 rows and 16 columns.
func axpyFits(m, n, k int) bool { return sgemm.Fits(m, n, k) }
