//go:build !openblas

package engine

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// BLAS names the matrix library this build multiplies with: gonum's, in
// pure Go (the default; build with -tags openblas for OpenBLAS). It is part
// of every trial id.
const BLAS = "gonum"

func init() { G.Use(gonumBLAS{}) }

// gonumBLAS is gonum's BLAS with the float32 products gonum computes as
// axpys (C += A·B and Aᵀ·B) done by sgemmAxpy in AVX2 registers, with
// gonum's exact arithmetic, where the CPU and the shape allow.
type gonumBLAS struct{ gonum.Implementation }

func (g gonumBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha != 1 || tB != blas.NoTrans || !axpyFits(m, n, k) {
		g.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// gonum's own scaling of C by beta, then the product.
	if beta != 1 {
		for i := 0; i < m; i++ {
			ci := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(ci)
				continue
			}
			for j := range ci {
				ci[j] *= beta
			}
		}
	}
	sgemmAxpy(tA, m, n, k, a, lda, b, ldb, c, ldc)
}
