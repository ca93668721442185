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

// gonumBLAS is gonum's BLAS with the float32 products that gonum runs on
// one goroutine (C has fewer than four 64x64 blocks, like a dense layer's
// forward pass at batch 50) cut into blocks that run side by side
// (splitGemm). gonum computes each element of those products on its own,
// in an order that does not depend on the other rows and columns, so the
// result is bit for bit gonum's (TestSplitGemm, TestTrainingDigest).
type gonumBLAS struct{ gonum.Implementation }

func (g gonumBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 1 && tB == blas.NoTrans && axpyFits(m, n, k) {
		// The products gonum does with axpys, on AVX (sgemmAxpy), after
		// gonum's own scaling of C by beta.
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
		return
	}
	if gonumBlocks(m)*gonumBlocks(n) >= 4 { // gonum goes parallel itself
		g.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// By rows unless there are few: gonum works row by row (axpy along C's
	// rows), faster on whole rows than on short pieces of them.
	splitGemm(g.Implementation.Sgemm, m >= n || m >= 2*gemmParts*gemmMinBlock, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gonumBlocks is how many of gonum's 64-wide blocks cover d.
func gonumBlocks(d int) int { return (d + 63) / 64 }
