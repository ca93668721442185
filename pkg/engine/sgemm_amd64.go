package engine

import (
	"golang.org/x/sys/cpu"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// kern4x16 adds A[0:4, 0:k]·B[0:k, 0:16] into a 4x16 tile of C with AVX
// (sgemm_amd64.s), in gonum's order and rounding; see sgemmAxpy.
//
//go:noescape
func kern4x16(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int)

// sgemmAxpy computes C += A·B (tA NoTrans) or C += Aᵀ·B (tA Trans) with B
// not transposed and alpha 1, the products gonum computes as axpys (y +=
// t·x along C's rows, skipping t = 0): each element of C gets the same
// float32 products, added in the same order (A's columns ascending), so the
// bits are gonum's. It does them 4 rows by 16 columns at a time in AVX
// registers instead of one row at a time: the same arithmetic, 3-4x faster
// at a training step's shapes. Rows past the last full 4 go through gonum's
// Saxpy and columns past the last full 16 through plain Go, both the same
// operations. It reports false, doing nothing, unless axpyFits.
func sgemmAxpy(tA blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	if !axpyFits(m, n, k) {
		return false
	}
	ars, acs := lda, 1 // A's strides between rows and between columns of op(A)
	if tA == blas.Trans {
		ars, acs = 1, lda
	}
	// The bounds every kernel call stays within (gonum checked them too).
	if len(a) < (m-1)*ars+(k-1)*acs+1 || len(b) < (k-1)*ldb+n || len(c) < (m-1)*ldc+n {
		panic("engine: sgemmAxpy: a slice is too short for its shape")
	}
	full := n / 16 * 16
	units := (m + 3) / 4
	parallelFor(units, max(1, (1<<17)/(4*n*k)), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			i0 := 4 * u
			if i0+4 > m { // the last rows: gonum's own axpy
				for i := i0; i < m; i++ {
					for l := 0; l < k; l++ {
						if t := a[i*ars+l*acs]; t != 0 {
							gonum.Implementation{}.Saxpy(n, t, b[l*ldb:l*ldb+n], 1, c[i*ldc:i*ldc+n], 1)
						}
					}
				}
				continue
			}
			for j0 := 0; j0 < full; j0 += 16 {
				kern4x16(k, &a[i0*ars], ars, acs, &b[j0], ldb, &c[i0*ldc+j0], ldc)
			}
			for i := i0; i < i0+4 && full < n; i++ { // the last columns
				ci := c[i*ldc : i*ldc+n]
				for l := 0; l < k; l++ {
					t := a[i*ars+l*acs]
					if t == 0 {
						continue
					}
					bl := b[l*ldb : l*ldb+n]
					for j := full; j < n; j++ {
						ci[j] += t * bl[j]
					}
				}
			}
		}
	})
	return true
}

// axpyFits says whether sgemmAxpy takes a product: the CPU has AVX2 and C
// has at least 4 rows and 16 columns.
func axpyFits(m, n, k int) bool { return cpu.X86.HasAVX2 && m >= 4 && n >= 16 && k >= 1 }
