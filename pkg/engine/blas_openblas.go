//go:build openblas

package engine

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"gonum.org/v1/gonum/blas"
	netlib "gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// BLAS names the matrix library this build multiplies with: OpenBLAS
// through cgo (build with -tags openblas; needs Debian's libopenblas-dev),
// on one OpenBLAS thread per call, products split across cores by nnx (see
// splitBLAS). Its results differ in the last bits from gonum's, so it is
// part of every trial id; "-1t" marks that they no longer depend on the
// machine's core count, as OpenBLAS's own threading made them.
const BLAS = "openblas-1t"

func init() {
	// OpenBLAS's threads spin between calls (sched_yield in a loop): they
	// took 40% of a CNN step's CPU time from nnx's own parallel ops, and
	// their split of a product changes its last bits with the core count.
	C.openblas_set_num_threads(1)
	G.Use(splitBLAS{netlib.Implementation{}})
}

// splitBLAS is OpenBLAS with big matrix products cut into a fixed number of
// blocks of rows (or columns, when C has more of those: each block reads
// all of B, or all of A) that run side by side. The cut depends on the
// shapes only, so the result is the same on any number of cores
// (TestSplitGemm), though not the bits of one uncut call: OpenBLAS's
// kernels for a block's edges add in another order.
type splitBLAS struct{ netlib.Implementation }

func (s splitBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	splitGemm(s.Implementation.Sgemm, m >= n, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (s splitBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	splitGemm(s.Implementation.Dgemm, m >= n, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
