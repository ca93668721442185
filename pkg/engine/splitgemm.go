//go:build openblas

package engine

import "gonum.org/v1/gonum/blas"

// gemmParts is how many blocks splitGemm cuts a big product into, and
// gemmSplitWork the multiply-adds from which it does: below that a
// goroutine costs more than it saves. Changing them changes the last bits
// of the products of an OpenBLAS build (see splitBLAS), so its engine id.
const (
	gemmParts     = 4
	gemmSplitWork = 1 << 18
	gemmMinBlock  = 8 // rows or columns
)

// splitGemm computes C = alpha·op(A)·op(B) + beta·C (row-major) with gemm,
// cut into up to gemmParts blocks of C's rows (byRows) or columns that run
// side by side (parallelFor). The blocks depend only on the shapes, so the
// result does not depend on the core count.
func splitGemm[T float](gemm gemmFn[T], byRows bool, tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	parts := 1
	if m*n*k >= gemmSplitWork {
		parts = min(gemmParts, n/gemmMinBlock)
		if byRows {
			parts = min(gemmParts, m/gemmMinBlock)
		}
	}
	if parts <= 1 {
		gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	parallelFor(parts, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			if byRows {
				r0, r1 := p*m/parts, (p+1)*m/parts
				off := r0 * lda // A is m x k
				if tA == blas.Trans {
					off = r0 // A is stored k x m
				}
				gemm(tA, tB, r1-r0, n, k, alpha, a[off:], lda, b, ldb, beta, c[r0*ldc:], ldc)
			} else {
				c0, c1 := p*n/parts, (p+1)*n/parts
				off := c0 // B is k x n
				if tB == blas.Trans {
					off = c0 * ldb // B is stored n x k
				}
				gemm(tA, tB, m, c1-c0, k, alpha, a, lda, b[off:], ldb, beta, c[c0:], ldc)
			}
		}
	})
}
